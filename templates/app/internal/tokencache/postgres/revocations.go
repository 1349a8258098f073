package postgres

import (
	"context"
	"errors"
	"time"
)

// Revocations is the record of ended (signed-out) sessions that every
// instance shares: a session cookie is self-contained, so without it a copy
// of the cookie taken before sign-out would still be accepted by the other
// instances. Entries are kept until the session would have expired anyway,
// then swept. It shares the Store's connections, timeout and outage
// reporting: while the server cannot be reached its errors wrap
// tokencache.ErrUnavailable, and the caller decides whether to fail closed.
type Revocations struct{ s *Store }

// Revocations returns the Store's record of ended sessions.
func (s *Store) Revocations() *Revocations { return &Revocations{s: s} }

// End records that session sid has ended, until the time it would have
// expired. Ending a session twice keeps the later time; an until in the
// past records nothing (such a session is refused for its age).
func (r *Revocations) End(ctx context.Context, sid string, until time.Time) error {
	if sid == "" {
		return errors.New("token cache: ending a session: empty session id")
	}
	if !time.Now().Before(until) {
		return nil
	}
	return r.s.do(ctx, "end session", func(ctx context.Context) error {
		_, err := r.s.pool.Exec(ctx, `INSERT INTO idweb_ended_sessions (sid, until) VALUES ($1, $2)
ON CONFLICT (sid) DO UPDATE SET until = GREATEST(idweb_ended_sessions.until, excluded.until)`, sid, until)
		return err
	})
}

// Ended reports whether session sid was ended and has not yet expired.
func (r *Revocations) Ended(ctx context.Context, sid string) (bool, error) {
	var ended bool
	err := r.s.do(ctx, "look up ended session", func(ctx context.Context) error {
		return r.s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM idweb_ended_sessions WHERE sid = $1 AND until > now())`, sid).Scan(&ended)
	})
	return ended, err
}
