package tokens

import (
	"context"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"hello/internal/tokencache"
)

// lockingAccessor is a client's cache accessor. Normally it is
// tokencache.Accessor as is: the caller already holds the user's lock. For
// a redemption (lockFor) it takes the lock of the partition MSAL loads
// before merging the token endpoint's answer, and releases it once MSAL
// saved the partition; release also lets go if MSAL never got that far.
//
// MSAL (v1.10) writes a token response as Replace(key), Write,
// Export(key), with the key from the response's client_info.
type lockingAccessor struct {
	tokencache.Accessor
	lock   func(key string) func() // set by lockFor
	unlock func()                  // set while the lock is held
}

// lockFor makes the next partition loaded take its lock with lock.
func (l *lockingAccessor) lockFor(lock func(key string) func()) { l.lock = lock }

// release lets go of the lock held, if any, and stops taking locks.
func (l *lockingAccessor) release() {
	if l.unlock != nil {
		l.unlock()
	}
	l.lock, l.unlock = nil, nil
}

// Replace implements cache.ExportReplace.
func (l *lockingAccessor) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	if l.lock != nil && l.unlock == nil && hints.PartitionKey != "" {
		l.unlock = l.lock(hints.PartitionKey)
	}
	return l.Accessor.Replace(ctx, u, hints)
}

// Export implements cache.ExportReplace.
func (l *lockingAccessor) Export(ctx context.Context, m cache.Marshaler, hints cache.ExportHints) error {
	err := l.Accessor.Export(ctx, m, hints)
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
	return err
}
