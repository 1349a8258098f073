// Package cachetest is the contract every token cache store keeps, and the
// helpers to test one. The token acquisition code relies on nothing else.
//
// Every store's tests run the contract against a fresh store per subtest:
//
//	func TestContract(t *testing.T) {
//		cachetest.Run(t, func(t *testing.T) tokencache.Store { return memory.New(0) })
//	}
//
// Run checks loads, saves and deletes, that partitions stay apart, that
// keys are opaque data (never paths, patterns or commands), that any bytes
// round-trip (encrypted partitions are binary: store them as bytes, e.g.
// bytea, not text), that large partitions fit, and concurrent use.
//
// A store that instances share (Redis, PostgreSQL) also runs RunShared,
// with two handles on one fresh store per subtest, as two instances hold:
//
//	func TestShared(t *testing.T) {
//		cachetest.RunShared(t, func(t *testing.T) (a, b tokencache.Store) {
//			prefix := uniquePrefix(t) // one fresh, empty store per subtest
//			return open(t, prefix), open(t, prefix)
//		})
//	}
//
// It checks that each handle sees the other's writes, and, for a
// tokencache.Invalidator, that every subscription (the writer's own too)
// receives the changed key once the change is visible, and that
// Invalidations ends with its context; a tokencache.Checker must be healthy.
// Subscribe, AwaitLive and Subscription.Await are the pieces it uses, for a
// backend's own outage tests (stop the server, expect ErrUnavailable, start
// it, Await(t, "")). An in-memory copy in front of a shared store (package
// layered) is used only once its subscription has delivered something, as
// a change made before a subscription is live is never delivered; a
// backend that also delivers "" as soon as its first subscription is live
// (not only after a reconnection) lets it start at once.
//
// A store that encrypts, or one that holds what an encrypting store wrote,
// checks its raw bytes with NoPlaintext(t, raw, "a-refresh-token-…").
//
// Clock is a manual clock for expiry tests, and Shared an in-memory
// stand-in for a shared store (with invalidations, an outage switch and call
// counts) for testing what layers over one.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"hello/internal/tokencache"
)

// Run runs the contract against stores made by open, one for each subtest.
func Run(t *testing.T, open func(t *testing.T) tokencache.Store) {
	t.Helper()
	ctx := context.Background()

	t.Run("a missing partition is nil, not an error", func(t *testing.T) {
		s := open(t)
		data, err := s.Load(ctx, "nobody.tenant")
		if err != nil || data != nil {
			t.Fatalf("Load of a missing partition = %q, %v; want nil, nil", data, err)
		}
	})

	t.Run("a saved partition loads as saved, and a later save replaces it", func(t *testing.T) {
		s := open(t)
		mustSave(t, s, "alice.tenant", `{"v":1}`)
		wantLoad(t, s, "alice.tenant", `{"v":1}`)
		mustSave(t, s, "alice.tenant", `{"v":2}`)
		wantLoad(t, s, "alice.tenant", `{"v":2}`)
	})

	t.Run("partitions are kept apart", func(t *testing.T) {
		s := open(t)
		mustSave(t, s, "alice.tenant", `{"user":"alice"}`)
		mustSave(t, s, "bob.tenant", `{"user":"bob"}`)
		mustSave(t, s, "client_tenant_AppTokenCache", `{"app":true}`)
		wantLoad(t, s, "alice.tenant", `{"user":"alice"}`)
		wantLoad(t, s, "bob.tenant", `{"user":"bob"}`)
		wantLoad(t, s, "client_tenant_AppTokenCache", `{"app":true}`)
	})

	t.Run("delete removes one partition and is idempotent", func(t *testing.T) {
		s := open(t)
		mustSave(t, s, "alice.tenant", `{"user":"alice"}`)
		mustSave(t, s, "bob.tenant", `{"user":"bob"}`)
		for range 2 {
			if err := s.Delete(ctx, "alice.tenant"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if err := s.Delete(ctx, "never.saved"); err != nil {
			t.Fatalf("Delete of a missing partition: %v", err)
		}
		wantLoad(t, s, "alice.tenant", "")
		wantLoad(t, s, "bob.tenant", `{"user":"bob"}`)
	})

	t.Run("the caller may reuse the slice it saved", func(t *testing.T) {
		s := open(t)
		buf := []byte(`{"v":1}`)
		if err := s.Save(ctx, "alice.tenant", buf); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "alice.tenant")
		if err != nil {
			t.Fatal(err)
		}
		// MSAL hands over a fresh slice each time; the store may keep it,
		// but what it returns must be what was saved.
		if !bytes.Equal(got, []byte(`{"v":1}`)) {
			t.Fatalf("Load = %s", got)
		}
	})

	t.Run("any bytes round-trip, as encrypted partitions are binary", func(t *testing.T) {
		s := open(t)
		all := make([]byte, 0, 512)
		for i := range 512 {
			all = append(all, byte(i)) // NUL, invalid UTF-8, every value twice
		}
		mustSave(t, s, "alice.tenant", string(all))
		wantLoad(t, s, "alice.tenant", string(all))
	})

	t.Run("a large partition round-trips", func(t *testing.T) {
		// A user with tokens for many APIs and tenants has a cache of
		// hundreds of kilobytes.
		s := open(t)
		big := `{"AccessToken":{` + strings.Repeat(`"x":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9",`, 20000) + `}}`
		mustSave(t, s, "alice.tenant", big)
		wantLoad(t, s, "alice.tenant", big)
	})

	t.Run("keys are data, never paths or commands", func(t *testing.T) {
		// Partition keys come from tokens (home account ids, tenants,
		// hashes of assertions): a store must not let one name another's
		// place, a path outside its own, or a pattern.
		s := open(t)
		keys := []string{
			"../../../../tmp/escape", "a/b", `a\b`, "a b", "*", "?", "[a]", "%s",
			"ключ.租户", "x:y", "CaseSensitive", "casesensitive",
			"LGN6fmQ3yZcQ4A8I3K-7hLhYxGq8E3W_0y2Jmyq3gY0", // an OBO key
			strings.Repeat("k", 1000),
		}
		for i, k := range keys {
			mustSave(t, s, k, fmt.Sprint(i))
		}
		for i, k := range keys {
			wantLoad(t, s, k, fmt.Sprint(i))
		}
		if err := s.Delete(ctx, "*"); err != nil {
			t.Fatal(err)
		}
		wantLoad(t, s, "*", "")
		wantLoad(t, s, "a/b", "1")
	})

	t.Run("concurrent use by many users", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for u := range 16 {
			wg.Go(func() {
				key := fmt.Sprintf("user%d.tenant", u)
				for i := range 20 {
					want := fmt.Sprintf(`{"user":%d,"i":%d}`, u, i)
					if err := s.Save(ctx, key, []byte(want)); err != nil {
						errs <- err
						return
					}
					got, err := s.Load(ctx, key)
					if err != nil {
						errs <- err
						return
					}
					if string(got) != want {
						errs <- fmt.Errorf("%s: Load = %s after saving %s", key, got, want)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("through MSAL's accessor, an unknown user never sees another's tokens", func(t *testing.T) {
		s := open(t)
		a := tokencache.Accessor{Store: s}
		client := &fakeClient{data: []byte(`{"alice":"tokens"}`)}
		if err := a.Export(ctx, client, cache.ExportHints{PartitionKey: "alice.tenant"}); err != nil {
			t.Fatal(err)
		}
		if err := a.Replace(ctx, client, cache.ReplaceHints{PartitionKey: "bob.tenant"}); err != nil {
			t.Fatal(err)
		}
		if string(client.data) != "{}" {
			t.Fatalf("after Replace for a user with no partition the client holds %s", client.data)
		}
	})
}

// fakeClient is what MSAL's client holds in memory.
type fakeClient struct{ data []byte }

func (f *fakeClient) Unmarshal(b []byte) error { f.data = bytes.Clone(b); return nil }
func (f *fakeClient) Marshal() ([]byte, error) { return bytes.Clone(f.data), nil }

func mustSave(t *testing.T, s tokencache.Store, key, data string) {
	t.Helper()
	if err := s.Save(context.Background(), key, []byte(data)); err != nil {
		t.Fatalf("Save %s: %v", key, err)
	}
}

// wantLoad checks the partition key holds want ("" for none).
func wantLoad(t *testing.T, s tokencache.Store, key, want string) {
	t.Helper()
	got, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load %s: %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Load %s = %q, want %q", key, got, want)
	}
}
