package devidp

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// TestGoOIDCVerifiesIDToken checks that go-oidc (used by the app to verify
// ID tokens) accepts the discovery document, the JWKS and the ID token.
func TestGoOIDCVerifiesIDToken(t *testing.T) {
	e := newEnv(t)
	ctx := oidc.ClientContext(context.Background(), e.ts.Client())
	provider, err := oidc.NewProvider(ctx, e.issuer())
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := e.code(nil)
	_, body := e.redeem(code, verifier)
	idt, err := provider.Verifier(&oidc.Config{ClientID: testClient}).Verify(ctx, body["id_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "nonce-456" || idt.Issuer != e.issuer() {
		t.Errorf("nonce %q issuer %q", idt.Nonce, idt.Issuer)
	}
	var c struct {
		OID  string `json:"oid"`
		TID  string `json:"tid"`
		Name string `json:"name"`
	}
	if err := idt.Claims(&c); err != nil || c.OID != adeleID || c.TID != testTenant || c.Name != "Adele Vance" {
		t.Errorf("claims %+v %v", c, err)
	}
	// Another client's verifier refuses it.
	if _, err := provider.Verifier(&oidc.Config{ClientID: otherClient}).Verify(ctx, body["id_token"].(string)); err == nil {
		t.Error("token accepted for another audience")
	}
}
