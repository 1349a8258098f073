package tokencache

import (
	"context"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// fakeCache records what MSAL's client would hold.
type fakeCache struct{ data []byte }

func (f *fakeCache) Unmarshal(b []byte) error { f.data = append([]byte(nil), b...); return nil }
func (f *fakeCache) Marshal() ([]byte, error) { return append([]byte(nil), f.data...), nil }

func TestAccessorIsolatesPartitions(t *testing.T) {
	ctx := context.Background()
	store := mapStore{}
	a := Accessor{Store: store}
	client := &fakeCache{data: []byte(`{"alice":"tokens"}`)}
	if err := a.Export(ctx, client, cache.ExportHints{PartitionKey: "alice"}); err != nil {
		t.Fatal(err)
	}
	// The same client is then used for Bob, who has no partition yet: it
	// must not keep Alice's tokens, or they would be exported as Bob's.
	if err := a.Replace(ctx, client, cache.ReplaceHints{PartitionKey: "bob"}); err != nil {
		t.Fatal(err)
	}
	if string(client.data) != "{}" {
		t.Fatalf("after Replace for a missing partition the client holds %s", client.data)
	}
	if err := a.Replace(ctx, client, cache.ReplaceHints{PartitionKey: "alice"}); err != nil {
		t.Fatal(err)
	}
	if string(client.data) != `{"alice":"tokens"}` {
		t.Fatalf("alice's partition = %s", client.data)
	}
	// RemoveAccount exports with an empty key (MSAL #218): nothing written.
	if err := a.Export(ctx, client, cache.ExportHints{}); err != nil || len(store) != 1 {
		t.Fatalf("empty-key export: err %v, %d partitions", err, len(store))
	}
}

// mapStore is the simplest Store, for testing the accessor alone.
type mapStore map[string][]byte

func (m mapStore) Load(_ context.Context, k string) ([]byte, error) { return m[k], nil }
func (m mapStore) Save(_ context.Context, k string, d []byte) error { m[k] = d; return nil }
func (m mapStore) Delete(_ context.Context, k string) error         { delete(m, k); return nil }
