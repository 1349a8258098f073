package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
	"github.com/idweb-init/idweb-init/templates/app/internal/devidp"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	secret   = "test-only-secret"
	redirect = "http://localhost:5000/signin-oidc"
)

var scopes = []string{"user.read"}

type fixture struct {
	idp   *devidp.Server
	srv   *httptest.Server
	acq   *Acquirer
	store *memory.Memory
	users []devidp.User
}

func newFixture(t testing.TB, nUsers int) *fixture {
	t.Helper()
	os.Unsetenv("MSAL_FORCE_REGION")
	f := &fixture{store: memory.New(0)}
	for i := range nUsers {
		f.users = append(f.users, devidp.User{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), DisplayName: fmt.Sprint("User ", i),
			UserPrincipalName: fmt.Sprintf("u%d@contoso.example", i),
		})
	}
	idp, err := devidp.New(devidp.Config{TenantID: tenant, Users: f.users,
		Clients: []devidp.Client{{ClientID: clientID, ClientSecret: secret, RedirectURIs: []string{redirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.idp, f.srv = idp, httptest.NewTLSServer(idp)
	t.Cleanup(f.srv.Close)
	cred, _ := confidential.NewCredFromSecret(secret)
	ad := config.AzureAd{Instance: f.srv.URL + "/", TenantID: tenant, ClientID: clientID}
	f.acq, err = New(ad, credential.Credential{MSAL: cred}, f.store, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// signIn runs the authorization code flow for user i and returns the
// home account id the app would keep in its session.
func (f *fixture) signIn(t testing.TB, i int) string {
	t.Helper()
	ctx := context.Background()
	authURL, err := f.acq.AuthCodeURL(ctx, redirect, append([]string{"openid", "offline_access"}, scopes...), "", "")
	if err != nil {
		t.Fatal(err)
	}
	verifier := fmt.Sprintf("verifier-%d-0123456789012345678901234567890123456789", i)
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
	res, err := f.acq.RedeemCode(ctx, form.Get("code"), verifier, redirect, scopes, "")
	if err != nil {
		t.Fatal(err)
	}
	return res.Account.HomeAccountID
}

// MSAL Go's client is not safe for concurrent users of a partitioned cache
// (measured: a third of silent calls lost their tokens). Every call here
// goes through MSAL (no recent-token shortcut): 20 users, 4000 concurrent
// calls, each must get its own user's token from the cache.
func TestConcurrentSilentAcquisition(t *testing.T) {
	const nUsers, nCalls = 20, 4000
	f := newFixture(t, nUsers)
	f.acq.noRecent = true
	ids := make([]string, nUsers)
	want := make([]string, nUsers)
	for i := range nUsers {
		ids[i] = f.signIn(t, i)
		tok, err := f.acq.Token(context.Background(), ids[i], scopes)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = tok
	}
	before := f.idp.TokenRequests("")

	var failed, wrong atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := make(chan struct{})
	for n := range nCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := n % nUsers
			<-start
			tok, err := f.acq.Token(context.Background(), ids[i], scopes)
			switch {
			case err != nil:
				failed.Add(1)
				firstErr.Do(func() { t.Errorf("user %d: %v", i, err) })
			case tok != want[i]:
				wrong.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("of %d concurrent calls %d failed and %d returned another token", nCalls, failed.Load(), wrong.Load())
	}
	if n := f.idp.TokenRequests("") - before; n != 0 {
		t.Errorf("%d token endpoint calls, want 0: every token was in the cache", n)
	}
}

func TestRemoveUser(t *testing.T) {
	f := newFixture(t, 2)
	ctx := context.Background()
	a, b := f.signIn(t, 0), f.signIn(t, 1)
	if _, err := f.acq.Token(ctx, a, scopes); err != nil {
		t.Fatal(err)
	}
	if err := f.acq.RemoveUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Gone from the cache and from the recent tokens alike.
	if _, err := f.acq.Token(ctx, a, scopes); !errors.Is(err, ErrInteractionRequired) {
		t.Fatalf("Token after RemoveUser: %v, want ErrInteractionRequired", err)
	}
	if _, err := f.acq.Token(ctx, b, scopes); err != nil {
		t.Fatalf("another user's tokens went too: %v", err)
	}
	if _, err := f.acq.Token(ctx, "", scopes); !errors.Is(err, ErrInteractionRequired) {
		t.Fatalf("no account: %v", err)
	}
}

// countingStore counts the partitions read.
type countingStore struct {
	tokencache.Store
	loads atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, key string) ([]byte, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, key)
}

// A remembered token is served only while the user's partition is the one
// it came from, and not once MSAL would refresh it: it is never staler than
// the store, which other instances write.
func TestRecentTokensFollowThePartition(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	store := &countingStore{Store: f.store}
	cred, _ := confidential.NewCredFromSecret(secret)
	ad := config.AzureAd{Instance: f.srv.URL + "/", TenantID: tenant, ClientID: clientID}
	acq, err := New(ad, credential.Credential{MSAL: cred}, store, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	id := f.signIn(t, 0) // through f.acq, as another instance would
	tok, err := acq.Token(ctx, id, scopes)
	if err != nil {
		t.Fatal(err)
	}
	calls := func(t *testing.T) (loads int64, got string) {
		t.Helper()
		before := store.loads.Load()
		got, err := acq.Token(ctx, id, scopes)
		if err != nil {
			t.Fatal(err)
		}
		return store.loads.Load() - before, got
	}

	t.Run("unchanged partition: one read, no MSAL", func(t *testing.T) {
		if loads, got := calls(t); loads != 1 || got != tok {
			t.Fatalf("%d partition reads (want 1), same token: %v", loads, got == tok)
		}
	})
	t.Run("changed elsewhere: MSAL reads the new partition", func(t *testing.T) {
		// The user signs in again on another instance: new tokens.
		f.signIn(t, 0)
		loads, got := calls(t)
		if loads == 1 || got == tok {
			t.Fatalf("%d partition reads, same token: %v; want MSAL's answer from the new partition", loads, got == tok)
		}
		tok = got
		if loads, got := calls(t); loads != 1 || got != tok {
			t.Fatalf("then remembered again: %d reads, same token: %v", loads, got == tok)
		}
	})
	t.Run("due for refresh: MSAL decides", func(t *testing.T) {
		acq.now = func() time.Time { return time.Now().Add(56 * time.Minute) }
		defer func() { acq.now = time.Now }()
		if loads, _ := calls(t); loads == 1 {
			t.Fatal("a token within MSAL's refresh margin was served from memory")
		}
	})
	t.Run("signed out elsewhere: sign in again", func(t *testing.T) {
		if err := f.acq.RemoveUser(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := acq.Token(ctx, id, scopes); !errors.Is(err, ErrInteractionRequired) {
			t.Fatalf("after sign-out on another instance: %v, want ErrInteractionRequired", err)
		}
	})
}
