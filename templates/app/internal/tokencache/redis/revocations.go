package redis

import (
	"context"
	"time"
)

// Revocations records ended sessions in Redis, so that a session signed
// out on one instance is refused by every instance: the session cookie is
// self-contained, and a copy taken before sign-out would otherwise still
// be honoured elsewhere. Each ended session is a key that expires when the
// session would have, so the record never outgrows the live sessions.
type Revocations struct{ s *Store }

// Revocations returns the record of ended sessions kept beside the token
// cache (same server, same timeout and outage reporting).
func (s *Store) Revocations() *Revocations { return &Revocations{s: s} }

// End records that session sid ended and stays ended until until (when it
// would have expired anyway). An until in the past records nothing: such a
// session is refused for its age.
func (r *Revocations) End(ctx context.Context, sid string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	s := r.s
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Whole milliseconds, rounded up: a key must not expire before until.
	ttl = ttl.Truncate(time.Millisecond) + time.Millisecond
	if err := s.client.Set(cctx, s.endedKey(sid), 1, ttl).Err(); err != nil {
		return s.fail(ctx, "end session", err)
	}
	s.health.ok()
	return nil
}

// Ended reports whether session sid was ended and has not yet expired.
// When Redis cannot answer it returns an error (wrapping
// tokencache.ErrUnavailable), never a guess: the caller decides whether
// to refuse the session.
func (r *Revocations) Ended(ctx context.Context, sid string) (bool, error) {
	s := r.s
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := s.client.Exists(cctx, s.endedKey(sid)).Result()
	if err != nil {
		return false, s.fail(ctx, "ended session", err)
	}
	s.health.ok()
	return n > 0, nil
}

// endedKey keeps ended sessions apart from partitions under the same prefix.
func (s *Store) endedKey(sid string) string {
	return s.prefix + "ended:" + sid
}
