package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invalidations implements tokencache.Invalidator: it calls f with the key
// of every partition any instance (this one included) saves or deletes,
// until ctx ends or the Store is closed, and then returns nil.
//
// It holds a connection of its own, outside the pool, that LISTENs on the
// channel Save and Delete notify. Notifications sent while it is not
// listening are lost, so it calls f("") (anything may have changed) each
// time it starts listening: first, and after every reconnection. It
// reconnects by itself, with backoff, after losing the connection, and
// checks an idle connection every 30 s so a silently dropped one is noticed.
// f runs on Invalidations' goroutine and should return quickly.
func (s *Store) Invalidations(ctx context.Context, f func(key string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closed, cancel)
	defer stop()

	backoff := s.backoffMin
	for {
		listened, err := s.listen(ctx, f)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = s.backoffMin
		}
		s.markDown(err)
		// Full jitter between half and all of the backoff, so instances
		// do not reconnect in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, s.backoffMax)
	}
}

// listen connects and LISTENs, calls f("") and then f(key) for each
// notification until the connection fails (returning the error) or ctx
// ends. listened reports whether it got as far as listening.
func (s *Store) listen(ctx context.Context, f func(key string)) (listened bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig)
	if err == nil {
		if _, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
			conn.Close(cctx)
		}
	}
	cancel()
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		conn.Close(cctx)
	}()
	s.markUp()
	f("")

	for {
		wctx, wcancel := context.WithTimeout(ctx, s.listenCheck)
		n, err := conn.WaitForNotification(wctx)
		wcancel()
		switch {
		case err == nil:
			// Other apps sharing the database notify on the same channel.
			if key, ok := strings.CutPrefix(n.Payload, s.prefix); ok {
				f(key)
			}
		case ctx.Err() != nil:
			return true, nil
		case errors.Is(wctx.Err(), context.DeadlineExceeded) && !conn.PgConn().IsClosed():
			// Quiet for a while: make sure the server is still there.
			pctx, pcancel := context.WithTimeout(ctx, s.timeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
