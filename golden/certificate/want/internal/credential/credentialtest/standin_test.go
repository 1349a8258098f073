package credentialtest

import (
	"context"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/devidp"
)

// TestStandIn: a secret signs in as the app, a wrong one is refused, and
// both requests are recorded as the token endpoint received them.
func TestStandIn(t *testing.T) {
	s := StandIn(t, devidp.Client{ClientSecret: "right"})
	ctx := context.Background()
	for _, tt := range []struct {
		secret string
		ok     bool
	}{{"right", true}, {"wrong", false}} {
		cred, err := confidential.NewCredFromSecret(tt.secret)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.AppToken(ctx, cred)
		if (err == nil) != tt.ok || (tt.ok && tok == "") {
			t.Errorf("secret %q: token %q, %v", tt.secret, tok, err)
		}
		f := s.LastRequest()
		if f.Get("client_secret") != tt.secret || f.Get("grant_type") != "client_credentials" || f.Get("client_id") != ClientID {
			t.Errorf("recorded form %v", f)
		}
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2", n)
	}
}
