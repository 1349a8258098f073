// Package cachetest is the contract every token cache store keeps: each
// backend's tests run it against a fresh store,
//
//	func TestContract(t *testing.T) {
//		cachetest.Run(t, func(t *testing.T) tokencache.Store { return memory.New(0) })
//	}
//
// and the token acquisition code relies on nothing else.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"example.com/certapp/internal/tokencache"
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
