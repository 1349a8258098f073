package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/postgres/pgtest"
)

// quickReconnect makes the listener retry every few dozen milliseconds, so
// the tests need not wait for the production backoff.
func quickReconnect(s *Store) {
	s.backoffMin, s.backoffMax = 20*time.Millisecond, 100*time.Millisecond
}

const (
	outageMsg   = "PostgreSQL is unreachable"
	recoveryMsg = "PostgreSQL is reachable again"
)

func TestOutage(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Own(t)
	const timeout = 1 * time.Second
	s, rec := open(t, srv.URL("postgres"), config.TokenCache{Timeout: timeout.String()}, quickReconnect)
	if err := s.Save(ctx, "alice.tenant", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	sub := cachetest.Subscribe(t, s)
	cachetest.AwaitLive(t, s, sub)

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Load":   func() error { _, err := s.Load(ctx, "alice.tenant"); return err },
		"Save":   func() error { return s.Save(ctx, "alice.tenant", []byte("v2")) },
		"Delete": func() error { return s.Delete(ctx, "bob.tenant") },
		"Check":  func() error { return s.Check(ctx) },
		"Ended":  func() error { _, err := s.Revocations().Ended(ctx, "sid"); return err },
		"End":    func() error { return s.Revocations().End(ctx, "sid", time.Now().Add(time.Hour)) },
	}
	for range 3 {
		for name, call := range calls {
			start := time.Now()
			err := call()
			if took := time.Since(start); took > timeout+500*time.Millisecond {
				t.Errorf("%s took %v with the server down; the timeout is %v", name, took, timeout)
			}
			if !errors.Is(err, tokencache.ErrUnavailable) {
				t.Fatalf("%s with the server down: %v; want ErrUnavailable", name, err)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // the listener retries meanwhile
	if n := rec.count(outageMsg); n != 1 {
		t.Fatalf("the outage was logged %d times; want once:\n%s", n, rec)
	}

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool's connections broke with the server; it makes new ones by
	// itself, with no call failing once the server accepts connections
	// (pg_ctl start -w has waited for that).
	for name, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("%s after the server is back: %v", name, err)
		}
	}
	if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v2" || err != nil {
		t.Fatalf("Load = %q, %v", got, err)
	}
	// The listener reconnects and says anything may have changed; then
	// it hears changes again.
	sub.Await(t, "")
	cachetest.AwaitLive(t, s, sub)
	if n := rec.count(recoveryMsg); n != 1 {
		t.Fatalf("the recovery was logged %d times; want once:\n%s", n, rec)
	}
	if n := rec.count(outageMsg); n != 1 {
		t.Fatalf("the outage was logged %d times; want once:\n%s", n, rec)
	}
}

func TestStartsWhileTheServerIsDown(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Own(t)
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, rec := open(t, srv.URL("postgres"), config.TokenCache{Timeout: "1s"}, quickReconnect)
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Open took %v with the server down", took)
	}
	if _, err := s.Load(ctx, "alice.tenant"); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Fatalf("Load with the server down: %v; want ErrUnavailable", err)
	}
	if n := rec.count(outageMsg); n != 1 {
		t.Fatalf("the outage was logged %d times; want once:\n%s", n, rec)
	}
	sub := cachetest.Subscribe(t, s) // starts while the server is down

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The first use creates the tables Open could not.
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v" || err != nil {
		t.Fatalf("Load = %q, %v", got, err)
	}
	sub.Await(t, "")
	cachetest.AwaitLive(t, s, sub)
	if n := rec.count(recoveryMsg); n != 1 {
		t.Fatalf("the recovery was logged %d times; want once:\n%s", n, rec)
	}
}

// A server that accepts connections but never answers (a dead host behind
// a live load balancer, a full network buffer) costs a call its timeout,
// no more.
func TestUnresponsiveServerTimesOut(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Own(t)
	s, rec := open(t, srv.URL("postgres"), config.TokenCache{Timeout: "300ms"})
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Hold the row's lock from another connection, so Save waits.
	tx, err := connect(t, srv.URL("postgres")).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM idweb_token_cache WHERE key = 'alice.tenant' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Save(ctx, "alice.tenant", []byte("v2"))
	if took := time.Since(start); !errors.Is(err, tokencache.ErrUnavailable) || took > time.Second {
		t.Fatalf("Save blocked by a lock: %v after %v; want ErrUnavailable after 300ms", err, took)
	}
	tx.Rollback(ctx)
	if err := s.Save(ctx, "alice.tenant", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if rec.count(outageMsg) != 1 || rec.count(recoveryMsg) != 1 {
		t.Fatalf("want one outage and one recovery logged:\n%s", rec)
	}
}

// A restart between two calls (a failover, a patch) breaks the pool's idle
// connections; the next call must not fail for it.
func TestRestartBetweenCallsCostsNoCall(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Own(t)
	s, rec := open(t, srv.URL("postgres"), config.TokenCache{Timeout: "2s"})
	for range 3 {
		if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("restarted in %v", time.Since(start))
		if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v" || err != nil {
			t.Fatalf("Load after a restart = %q, %v", got, err)
		}
	}
	if n := rec.count(outageMsg); n != 0 {
		t.Fatalf("a restart between calls was logged as an outage:\n%s", rec)
	}
}
