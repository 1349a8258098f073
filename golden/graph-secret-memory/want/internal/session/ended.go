package session

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Revocations remembers the sessions that were signed out, until they would
// have expired anyway. The session cookie is self-contained, so without
// this a copy taken before sign-out would still name the user.
//
// Every instance must see every sign-out: with more than one instance,
// give Cookies a store shared by all of them (the Redis and PostgreSQL
// token caches offer End and Ended); NewEnded is this process's memory
// only, right for a single instance.
type Revocations interface {
	// End records that the session sid was signed out; the record may be
	// dropped after until, when the session's cookie expires anyway.
	End(ctx context.Context, sid string, until time.Time) error
	// Ended reports whether the session sid was signed out. A store that
	// cannot tell (it is down) returns an error, never false.
	Ended(ctx context.Context, sid string) (bool, error)
}

// ErrRevocationsUnavailable is Cookies.Session's error when the store of
// signed-out sessions cannot be reached: whether the session is still live
// cannot be told, so it is not served (pages answer 503, not a sign-in
// page: signing in again would meet the same store). It wraps the store's
// error too (tokencache.ErrUnavailable for the shared caches).
var ErrRevocationsUnavailable = errors.New("session: whether the session was signed out cannot be told now")

// Ended is the in-process Revocations: the sessions signed out through this
// process, kept in memory, like the in-memory token cache. It is enough
// for one instance, and loses its records when the process stops (the
// cookies of sessions ended before a restart then open again until they
// expire: with a shared token cache, use its store instead).
type Ended struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
}

// NewEnded returns an empty in-process set of ended sessions.
func NewEnded() *Ended {
	return &Ended{until: map[string]time.Time{}, now: time.Now}
}

// End implements Revocations. A zero until means a whole Lifetime.
func (e *Ended) End(_ context.Context, sid string, until time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for k, t := range e.until { // keep the set bounded by live sessions
		if now.After(t) {
			delete(e.until, k)
		}
	}
	if until.IsZero() {
		until = now.Add(Lifetime)
	}
	e.until[sid] = until
	return nil
}

// Ended implements Revocations.
func (e *Ended) Ended(_ context.Context, sid string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.until[sid]
	return ok, nil
}
