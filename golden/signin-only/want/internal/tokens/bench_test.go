package tokens

import (
	"context"
	"testing"
)

// BenchmarkToken measures a silent acquisition whose token is cached, over
// the in-memory store: "remembered" is the hot path (one partition read and
// its digest), "msal" makes MSAL parse and search the partition each call.
// Each project's BenchmarkSilentToken measures its own token cache.
//
//	go test ./internal/tokens -run '^$' -bench Token -benchmem
func BenchmarkToken(b *testing.B) {
	for _, bc := range []struct {
		name     string
		noRecent bool
	}{{"remembered", false}, {"msal", true}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, 1)
			f.acq.noRecent = bc.noRecent
			id := f.signIn(b, 0)
			ctx := context.Background()
			if _, err := f.acq.Token(ctx, id, scopes); err != nil {
				b.Fatal(err)
			}
			before := f.idp.TokenRequests("")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.acq.Token(ctx, id, scopes); err != nil {
					b.Fatal(err)
				}
			}
			if n := f.idp.TokenRequests("") - before; n != 0 {
				b.Fatalf("%d token endpoint calls for a cached token", n)
			}
		})
	}
}
