package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
	"example.com/certapp/internal/devidp"
	"example.com/certapp/internal/tokencache"
)

// gatedStore is a token cache whose next Save of one partition, once
// armed, waits until the test lets it through.
type gatedStore struct {
	tokencache.Store
	mu      sync.Mutex
	key     string
	reached chan struct{} // closed when the gated Save is waiting
	open    chan struct{} // closed by the test to let it through
}

func (g *gatedStore) arm(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.key, g.reached, g.open = key, make(chan struct{}), make(chan struct{})
}

func (g *gatedStore) Save(ctx context.Context, key string, data []byte) error {
	g.mu.Lock()
	gated := key == g.key && g.reached != nil
	reached, open := g.reached, g.open
	if gated {
		g.key = "" // once
	}
	g.mu.Unlock()
	if gated {
		close(reached)
		<-open
	}
	return g.Store.Save(ctx, key, data)
}

// authCode signs user i in at the stand-in for authScopes and returns an
// authorization code with its PKCE verifier, not yet redeemed.
func (f *fixture) authCode(t *testing.T, i int, authScopes []string) (code, verifier string) {
	t.Helper()
	ctx := context.Background()
	authURL, err := f.acq.AuthCodeURL(ctx, redirect, authScopes, "", "")
	if err != nil {
		t.Fatal(err)
	}
	verifier = fmt.Sprintf("verifier-%d-%d-0123456789012345678901234567890123456789", i, time.Now().UnixNano())
	sum := sha256.Sum256([]byte(verifier))
	u, _ := url.Parse(authURL)
	q := u.Query()
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("nonce", "n")
	q.Set("state", "s")
	u.RawQuery = q.Encode()
	_, form, err := devidp.SignIn(ctx, f.srv.Client(), u.String(), f.users[i].ID)
	if err != nil {
		t.Fatal(err)
	}
	return form.Get("code"), verifier
}

// A sign-in's tokens and a concurrent refresh for the same user both land
// in the user's partition. The user signs in a second time (another tab,
// or incremental consent) while a page refreshes a token: the refresh has
// merged its token into the partition as it was and is saving it when the
// redemption comes. Were the redemption to write outside the user's lock,
// it would save its tokens first and the refresh would then overwrite them
// with its older copy: the new sign-in's tokens lost.
func TestRedemptionWaitsForTheUsersLock(t *testing.T) {
	f := newFixture(t, 1)
	gate := &gatedStore{Store: f.store}
	cred, _ := confidential.NewCredFromSecret(secret)
	ad := config.AzureAd{Instance: f.srv.URL + "/", TenantID: tenant, ClientID: clientID}
	acq, err := New(ad, credential.Credential{MSAL: cred}, gate, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	acq.noRecent = true
	f.acq = acq
	ctx := context.Background()

	// Signed in with consent to user.read and mail.read; only user.read's
	// token is cached, so a mail.read token takes a refresh.
	authScopes := []string{"openid", "offline_access", "user.read", "mail.read"}
	code, verifier := f.authCode(t, 0, authScopes)
	first, err := acq.RedeemCode(ctx, code, verifier, redirect, scopes, "")
	if err != nil {
		t.Fatal(err)
	}
	id := first.Account.HomeAccountID
	code2, verifier2 := f.authCode(t, 0, authScopes)

	gate.arm(id)
	refreshed := make(chan string, 1)
	go func() {
		tok, err := acq.Token(ctx, id, []string{"mail.read"})
		if err != nil {
			t.Errorf("refresh: %v", err)
		}
		refreshed <- tok
	}()
	<-gate.reached // the refresh is saving the partition as it read it

	redeemed := make(chan confidential.AuthResult, 1)
	go func() {
		res, err := acq.RedeemCode(ctx, code2, verifier2, redirect, scopes, "")
		if err != nil {
			t.Errorf("second sign-in: %v", err)
		}
		redeemed <- res
	}()
	// Unlocked, the redemption completes now; locked, it waits for the
	// refresh. Give it the time to finish if it can.
	var second confidential.AuthResult
	select {
	case second = <-redeemed:
	case <-time.After(300 * time.Millisecond):
	}
	close(gate.open)
	mailToken := <-refreshed
	if second.AccessToken == "" {
		second = <-redeemed
	}
	if t.Failed() {
		return
	}

	data, err := f.store.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), second.AccessToken) {
		t.Error("the second sign-in's tokens were lost: a concurrent refresh overwrote the partition")
	}
	if !strings.Contains(string(data), mailToken) {
		t.Error("the refresh's token was lost")
	}
	// And the user's tokens serve from the cache, without a sign-in.
	before := f.idp.TokenRequests("")
	if tok, err := acq.Token(ctx, id, scopes); err != nil || tok != second.AccessToken {
		t.Errorf("user.read after both: %v (the second sign-in's token: %v)", err, tok == second.AccessToken)
	}
	if n := f.idp.TokenRequests("") - before; n != 0 {
		t.Errorf("%d token requests, want 0", n)
	}
}

// downStore is a token cache that can be down, as a shared cache's is.
type downStore struct {
	tokencache.Store
	mu   sync.Mutex
	down bool
}

func (d *downStore) set(down bool) { d.mu.Lock(); d.down = down; d.mu.Unlock() }

func (d *downStore) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return fmt.Errorf("redis: dial tcp 127.0.0.1:1: connection refused: %w", tokencache.ErrUnavailable)
	}
	return nil
}

func (d *downStore) Load(ctx context.Context, key string) ([]byte, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.Load(ctx, key)
}

func (d *downStore) Save(ctx context.Context, key string, data []byte) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Store.Save(ctx, key, data)
}

// A token cache that is down fails a redemption and a silent call with an
// error that says so (pages answer 503), and a failed redemption leaves
// the user's lock free: the next call for the user does not hang.
func TestCacheDownFailsWithErrUnavailable(t *testing.T) {
	f := newFixture(t, 1)
	store := &downStore{Store: f.store}
	cred, _ := confidential.NewCredFromSecret(secret)
	ad := config.AzureAd{Instance: f.srv.URL + "/", TenantID: tenant, ClientID: clientID}
	acq, err := New(ad, credential.Credential{MSAL: cred}, store, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	acq.noRecent = true
	f.acq = acq
	ctx := context.Background()
	id := f.signIn(t, 0)
	code, verifier := f.authCode(t, 0, []string{"openid", "offline_access", "user.read"})
	// Every step runs under a deadline: a lock kept by mistake hangs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.set(true)
		if _, err := acq.Token(ctx, id, scopes); !errors.Is(err, tokencache.ErrUnavailable) || errors.Is(err, ErrInteractionRequired) {
			t.Errorf("Token with the cache down: %v, want ErrUnavailable", err)
		}
		if _, err := acq.RedeemCode(ctx, code, verifier, redirect, scopes, ""); !errors.Is(err, tokencache.ErrUnavailable) {
			t.Errorf("RedeemCode with the cache down: %v, want ErrUnavailable", err)
		}
		store.set(false)
		for range 3 { // whichever pooled client each call borrows
			if _, err := acq.Token(ctx, id, scopes); err != nil {
				t.Errorf("Token once the cache is back: %v", err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a call hangs: a redemption kept the user's lock")
	}
}
