// Package tokencache keeps MSAL's token cache outside the MSAL client,
// partitioned per user, so tokens never live in cookies and any number of
// MSAL clients can serve any user.
package tokencache

import (
	"context"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// Store holds serialized MSAL cache partitions by key. A user's partition key
// is their home account id ("<oid>.<tid>").
type Store interface {
	// Load returns the partition, or nil and no error when there is none.
	Load(ctx context.Context, key string) ([]byte, error)
	Save(ctx context.Context, key string, data []byte) error
	Delete(ctx context.Context, key string) error
}

// Accessor adapts a Store to MSAL's cache.ExportReplace.
type Accessor struct{ Store Store }

// Replace loads the partition into the MSAL client. On a miss it still resets
// the client's in-memory cache: a client is reused across users, and the
// previous user's tokens must never be visible to (or exported as) the next.
func (a Accessor) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	data, err := a.Store.Load(ctx, hints.PartitionKey)
	if err != nil {
		return fmt.Errorf("token cache: load: %w", err)
	}
	if len(data) == 0 {
		data = []byte("{}")
	}
	return u.Unmarshal(data)
}

// Export saves the client's cache under the partition key. MSAL calls
// Export with an empty key from RemoveAccount (upstream issue #218); there is
// no partition to write then, and sign-out deletes the user's own.
func (a Accessor) Export(ctx context.Context, m cache.Marshaler, hints cache.ExportHints) error {
	if hints.PartitionKey == "" {
		return nil
	}
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("token cache: marshal: %w", err)
	}
	if err := a.Store.Save(ctx, hints.PartitionKey, data); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	return nil
}

// What stores shared by several instances (Redis, PostgreSQL) offer beyond
// Store. Packages that layer stores (an in-memory L1 in front, encryption
// at rest) pass these through.
type (
	// Invalidator tells each instance which partitions another instance
	// (or this one) saved or deleted, so that in-memory copies (L1) are
	// dropped and no instance serves a stale token or a rotated-away
	// refresh token (Redis pub/sub, PostgreSQL LISTEN/NOTIFY).
	Invalidator interface {
		// Invalidations calls f with each changed partition's key until
		// ctx ends, reconnecting by itself after an outage; after a
		// reconnection it calls f with "" (anything may have changed).
		Invalidations(ctx context.Context, f func(key string)) error
	}
	// Checker reports whether the store can be reached now, for a
	// readiness endpoint.
	Checker interface {
		Check(ctx context.Context) error
	}
)

// ErrUnavailable is wrapped by the errors of a store that cannot be
// reached (down, timed out): pages answer it with 503 and a clear page,
// not a 500.
var ErrUnavailable = errors.New("token cache unavailable")
