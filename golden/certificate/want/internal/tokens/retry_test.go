package tokens

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
	"example.com/certapp/internal/devidp"
	"example.com/certapp/internal/tokencache/memory"
)

// keyPair is a client certificate's key and the certificate's PEM.
type keyPair struct {
	name string
	key  *rsa.PrivateKey
	pem  string
}

func newKeyPair(t *testing.T, name string) keyPair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{name, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// rotating is a credential whose source has a newer certificate to offer
// when told it was rejected, as Key Vault has after a renewal: it signs
// with cur, and Rejected swaps in next (if any).
type rotating struct {
	mu        sync.Mutex
	cur, next *keyPair
	always    bool     // Rejected says "changed" without changing anything
	signed    []string // the certificate of each assertion, in order
	rejected  int
}

func (r *rotating) set(cur, next *keyPair, always bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur, r.next, r.always, r.signed, r.rejected = cur, next, always, nil, 0
}

func (r *rotating) credential(withHook bool) credential.Credential {
	cred := confidential.NewCredFromAssertionCallback(func(_ context.Context, o confidential.AssertionRequestOptions) (string, error) {
		r.mu.Lock()
		kp := r.cur
		r.signed = append(r.signed, kp.name)
		r.mu.Unlock()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: kp.key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return "", err
		}
		now := time.Now()
		return jwt.Signed(signer).Claims(jwt.Claims{Issuer: o.ClientID, Subject: o.ClientID, Audience: jwt.Audience{o.TokenEndpoint},
			ID: fmt.Sprint(now.UnixNano()), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}).Serialize()
	})
	c := credential.Credential{MSAL: cred}
	if withHook {
		c.Rejected = func(context.Context) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.rejected++
			if r.next != nil {
				r.cur, r.next = r.next, nil
				return true
			}
			return r.always
		}
	}
	return c
}

func (r *rotating) check(t *testing.T, wantSigned string, wantRejected int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := strings.Join(r.signed, ","); got != wantSigned || r.rejected != wantRejected {
		t.Errorf("assertions signed by [%s], Rejected called %d times; want [%s] and %d", got, r.rejected, wantSigned, wantRejected)
	}
}

// TestRetryOnRejectedCredential: the token endpoint refuses the
// certificate the app loaded (only its successor is registered): sign-in,
// the silent refresh and app tokens each ask the credential's source once
// for newer material and try once more with it. A source that keeps
// saying "changed" gets one retry, not a loop.
func TestRetryOnRejectedCredential(t *testing.T) {
	os.Unsetenv("MSAL_FORCE_REGION")
	old, renewed := newKeyPair(t, "old"), newKeyPair(t, "renewed")
	user := devidp.User{ID: "00000000-0000-4000-8000-000000000001", DisplayName: "U", UserPrincipalName: "u@contoso.example"}
	idp, err := devidp.New(devidp.Config{TenantID: tenant, Users: []devidp.User{user},
		// Tokens that MSAL refreshes at once (it refreshes 5 minutes early).
		AccessTokenLifetime: 4 * time.Minute,
		Clients:             []devidp.Client{{ClientID: clientID, RedirectURIs: []string{redirect}, CertificatesPEM: []string{renewed.pem}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(idp)
	defer srv.Close()
	ad := config.AzureAd{Instance: srv.URL + "/", TenantID: tenant, ClientID: clientID}
	newAcquirer := func(r *rotating, withHook bool) *Acquirer {
		a, err := New(ad, r.credential(withHook), memory.New(0), srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		a.noRecent = true
		return a
	}
	ctx := context.Background()
	r := &rotating{}
	acq := newAcquirer(r, true)

	// Sign-in: the code is redeemed on the second try.
	r.set(&old, &renewed, false)
	authURL, err := acq.AuthCodeURL(ctx, redirect, scopes, "", "")
	if err != nil {
		t.Fatal(err)
	}
	verifier := "verifier-0123456789012345678901234567890123456789"
	sum := sha256.Sum256([]byte(verifier))
	u, _ := url.Parse(authURL)
	q := u.Query()
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("state", "s")
	u.RawQuery = q.Encode()
	_, form, err := devidp.SignIn(ctx, srv.Client(), u.String(), user.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := acq.RedeemCode(ctx, form.Get("code"), verifier, redirect, scopes, "")
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	r.check(t, "old,renewed", 1)

	// The silent refresh (the access token is within MSAL's margin).
	r.set(&old, &renewed, false)
	if _, err := acq.Token(ctx, res.Account.HomeAccountID, scopes); err != nil {
		t.Fatalf("Token: %v", err)
	}
	r.check(t, "old,renewed", 1)

	// An app token.
	r.set(&old, &renewed, false)
	if _, err := acq.AppToken(ctx, []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatalf("AppToken: %v", err)
	}
	r.check(t, "old,renewed", 1)

	tests := []struct {
		name         string
		withHook     bool
		always       bool
		wantSigned   string
		wantRejected int
	}{
		{"a source that always claims a change: one retry", true, true, "old,old", 1},
		{"a source with nothing new: no retry", true, false, "old", 1},
		{"a credential without the hook: no retry", false, false, "old", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rotating{}
			acq := newAcquirer(r, tt.withHook)
			r.set(&old, nil, tt.always)
			before := idp.TokenRequests("client_credentials")
			_, err := acq.AppToken(ctx, []string{"https://graph.microsoft.com/.default"})
			if err == nil || !invalidClient(err) {
				t.Fatalf("AppToken: %v, want invalid_client", err)
			}
			r.check(t, tt.wantSigned, tt.wantRejected)
			if n, want := idp.TokenRequests("client_credentials")-before, int64(len(strings.Split(tt.wantSigned, ","))); n != want {
				t.Errorf("%d token requests, want %d", n, want)
			}
		})
	}
}
