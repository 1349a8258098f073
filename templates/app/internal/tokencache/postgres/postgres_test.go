package postgres

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/postgres/pgtest"
)

// server is IDWEB_TEST_POSTGRES_URL's, or one started on first use
// (scripts/postgres starts one by hand the same way).
var server pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	server.Close()
	os.Exit(code)
}

// newDB returns the URL of an empty database of the test's own.
func newDB(t *testing.T) string {
	t.Helper()
	return pgtest.NewDatabase(t, server.URL(t))
}

// open opens a Store on dbURL with tc's other settings, closed when the test
// ends, its log lines recorded in the returned recorder.
func open(t *testing.T, dbURL string, tc config.TokenCache, opts ...Option) (*Store, *logRecorder) {
	t.Helper()
	tc.PostgresURL = dbURL
	if tc.Timeout == "" {
		tc.Timeout = "1s"
	}
	rec := &logRecorder{}
	opts = append([]Option{WithLogger(slog.New(rec))}, opts...)
	s, err := Open(context.Background(), &config.Config{TokenCache: tc}, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, rec
}

func TestContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Store {
		s, _ := open(t, newDB(t), config.TokenCache{})
		return s
	})
}

func TestShared(t *testing.T) {
	cachetest.RunShared(t, func(t *testing.T) (a, b tokencache.Store) {
		dbURL := newDB(t)
		a, _ = open(t, dbURL, config.TokenCache{})
		b, _ = open(t, dbURL, config.TokenCache{})
		return a, b
	})
}

func TestInvalidationsReachOtherInstances(t *testing.T) {
	dbURL := newDB(t)
	ctx := context.Background()
	a, _ := open(t, dbURL, config.TokenCache{})
	b, _ := open(t, dbURL, config.TokenCache{})
	subB := cachetest.Subscribe(t, b)
	cachetest.AwaitLive(t, b, subB)

	if err := a.Save(ctx, "alice.tenant", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	subB.Await(t, "alice.tenant")
	if err := a.Delete(ctx, "alice.tenant"); err != nil {
		t.Fatal(err)
	}
	subB.Await(t, "alice.tenant")
}

func TestAppsSharingADatabaseKeepApart(t *testing.T) {
	dbURL := newDB(t)
	ctx := context.Background()
	open2 := func(clientID string) *Store {
		s, err := Open(ctx, &config.Config{
			AzureAd:    config.AzureAd{ClientID: clientID},
			TokenCache: config.TokenCache{PostgresURL: dbURL, Timeout: "1s"},
		}, WithLogger(slog.New(&logRecorder{})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	app1, app2 := open2("11111111-1111-1111-1111-111111111111"), open2("22222222-2222-2222-2222-222222222222")
	var mu sync.Mutex
	var got1 []string
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	go app1.Invalidations(ictx, func(k string) { mu.Lock(); got1 = append(got1, k); mu.Unlock() })

	if err := app1.Save(ctx, "alice.tenant", []byte("app1")); err != nil {
		t.Fatal(err)
	}
	if err := app2.Save(ctx, "alice.tenant", []byte("app2")); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[*Store]string{app1: "app1", app2: "app2"} {
		if got, err := s.Load(ctx, "alice.tenant"); err != nil || string(got) != want {
			t.Errorf("Load = %q, %v; want %q", got, err, want)
		}
	}
	// app1 hears its own key without the prefix, and not app2's.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := app2.Save(ctx, "bob.tenant", nil); err != nil {
			t.Fatal(err)
		}
		if err := app1.Save(ctx, "carol.tenant", nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		seen := strings.Join(got1, ",")
		mu.Unlock()
		if strings.Contains(seen, "bob") || strings.Contains(seen, ":") {
			t.Fatalf("app1 heard %s", seen)
		}
		if strings.Contains(seen, "carol.tenant") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app1 never heard its own save; heard %q", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// row reads a partition's expirations relative to the server's clock.
func row(t *testing.T, dbURL, key string) (absolute, sliding time.Duration, ok bool) {
	t.Helper()
	conn := connect(t, dbURL)
	var a, s float64
	err := conn.QueryRow(context.Background(), `SELECT EXTRACT(EPOCH FROM expires_at - now()), EXTRACT(EPOCH FROM sliding_until - now())
FROM idweb_token_cache WHERE key = $1`, key).Scan(&a, &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(a * float64(time.Second)), time.Duration(s * float64(time.Second)), true
}

func exec(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	if _, err := connect(t, dbURL).Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func near(got, want time.Duration) bool {
	return got > want-time.Minute && got <= want+time.Second
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	s, _ := open(t, dbURL, config.TokenCache{})
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	a, sl, _ := row(t, dbURL, "alice.tenant")
	if !near(a, DefaultAbsoluteExpiration) || !near(sl, DefaultSlidingExpiration) {
		t.Fatalf("after Save the partition lives %v (absolute), %v (sliding); want %v, %v", a, sl, DefaultAbsoluteExpiration, DefaultSlidingExpiration)
	}

	t.Run("a read moves the sliding expiration forward", func(t *testing.T) {
		exec(t, dbURL, `UPDATE idweb_token_cache SET sliding_until = now() + interval '13 days'`)
		if _, err := s.Load(ctx, "alice.tenant"); err != nil {
			t.Fatal(err)
		}
		if _, sl, _ := row(t, dbURL, "alice.tenant"); !near(sl, DefaultSlidingExpiration) {
			t.Fatalf("after Load the sliding expiration is in %v; want %v", sl, DefaultSlidingExpiration)
		}
	})
	t.Run("but not by less than the slack, to spare a write per read", func(t *testing.T) {
		exec(t, dbURL, `UPDATE idweb_token_cache SET sliding_until = now() + interval '14 days' - interval '10 minutes'`)
		if _, err := s.Load(ctx, "alice.tenant"); err != nil {
			t.Fatal(err)
		}
		if _, sl, _ := row(t, dbURL, "alice.tenant"); near(sl, DefaultSlidingExpiration) && sl > DefaultSlidingExpiration-5*time.Minute {
			t.Fatalf("a Load within the slack moved the sliding expiration to %v", sl)
		}
	})
	for _, column := range []string{"expires_at", "sliding_until"} {
		t.Run("past its "+column+" a partition is gone, and its row removed", func(t *testing.T) {
			if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
				t.Fatal(err)
			}
			exec(t, dbURL, `UPDATE idweb_token_cache SET `+column+` = now() - interval '1 second'`)
			if got, err := s.Load(ctx, "alice.tenant"); got != nil || err != nil {
				t.Fatalf("Load = %q, %v; want nil, nil", got, err)
			}
			if _, _, ok := row(t, dbURL, "alice.tenant"); ok {
				t.Fatal("the expired row is still there")
			}
		})
	}

	t.Run("short durations, in real time", func(t *testing.T) {
		s, _ := open(t, newDB(t), config.TokenCache{AbsoluteExpiration: "1500ms", SlidingExpiration: "600ms"})
		if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
			t.Fatal(err)
		}
		for range 3 { // reads keep it alive past the sliding window...
			time.Sleep(300 * time.Millisecond)
			if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v" || err != nil {
				t.Fatalf("Load after %v of reads = %q, %v", 300*time.Millisecond, got, err)
			}
		}
		time.Sleep(700 * time.Millisecond) // ...but not past the absolute one
		if got, err := s.Load(ctx, "alice.tenant"); got != nil || err != nil {
			t.Fatalf("Load past the absolute expiration = %q, %v", got, err)
		}
		if err := s.Save(ctx, "bob.tenant", []byte("v")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond) // unread past the sliding window
		if got, err := s.Load(ctx, "bob.tenant"); got != nil || err != nil {
			t.Fatalf("Load past the sliding expiration = %q, %v", got, err)
		}
	})
}

func TestSweepRemovesExpiredRowsInBatches(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	s, _ := open(t, dbURL, config.TokenCache{}, func(s *Store) { s.sweepBatch = 2 })
	for _, k := range []string{"a", "b", "c", "d", "e", "live"} {
		if err := s.Save(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	r := s.Revocations()
	for _, sid := range []string{"s1", "s2", "s3", "live"} {
		if err := r.End(ctx, sid, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, dbURL, `UPDATE idweb_token_cache SET expires_at = now() - interval '1 second' WHERE key <> 'live'`)
	exec(t, dbURL, `UPDATE idweb_ended_sessions SET until = now() - interval '1 second' WHERE sid <> 'live'`)
	n, err := s.sweep(ctx)
	if err != nil || n != 8 {
		t.Fatalf("sweep = %d, %v; want 8 rows", n, err)
	}
	var rows int
	if err := connect(t, dbURL).QueryRow(ctx, `SELECT (SELECT count(*) FROM idweb_token_cache) + (SELECT count(*) FROM idweb_ended_sessions)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Fatalf("%d rows left; want the 2 live ones", rows)
	}
}

func TestRevocations(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	a, _ := open(t, dbURL, config.TokenCache{})
	b, _ := open(t, dbURL, config.TokenCache{})
	ra, rb := a.Revocations(), b.Revocations()

	if ended, err := rb.Ended(ctx, "sid-1"); ended || err != nil {
		t.Fatalf("Ended before End = %v, %v", ended, err)
	}
	if err := ra.End(ctx, "sid-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ended, err := rb.Ended(ctx, "sid-1"); !ended || err != nil {
		t.Fatalf("another instance's Ended after End = %v, %v", ended, err)
	}
	if ended, _ := rb.Ended(ctx, "sid-2"); ended {
		t.Fatal("a session never ended is reported ended")
	}
	// A second End with an earlier time keeps the later.
	if err := rb.End(ctx, "sid-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var left float64
	connect(t, dbURL).QueryRow(ctx, `SELECT EXTRACT(EPOCH FROM until - now()) FROM idweb_ended_sessions WHERE sid = 'sid-1'`).Scan(&left)
	if left < 30*60 {
		t.Fatalf("the record ends in %vs; the later End (an hour) should win", left)
	}
	// Past its time a session is no longer recorded as ended (its cookie
	// has expired anyway).
	exec(t, dbURL, `UPDATE idweb_ended_sessions SET until = now() - interval '1 second'`)
	if ended, err := rb.Ended(ctx, "sid-1"); ended || err != nil {
		t.Fatalf("Ended past until = %v, %v", ended, err)
	}
	if err := ra.End(ctx, "sid-3", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if ended, _ := rb.Ended(ctx, "sid-3"); ended {
		t.Fatal("a session ended with a past until is recorded")
	}
	if err := ra.End(ctx, "", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("End accepted an empty session id")
	}
}

func TestTablesCreatedWhenMissing(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	s, _ := open(t, dbURL, config.TokenCache{})
	var exist bool
	if err := connect(t, dbURL).QueryRow(ctx, tablesExist).Scan(&exist); err != nil || !exist {
		t.Fatalf("after Open the tables exist: %v, %v", exist, err)
	}
	if err := s.Save(ctx, "alice.tenant", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	// Someone drops them while the app runs: the next call makes them again.
	exec(t, dbURL, `DROP TABLE idweb_token_cache, idweb_ended_sessions`)
	if got, err := s.Load(ctx, "alice.tenant"); got != nil || err != nil {
		t.Fatalf("Load after the table was dropped = %q, %v; want nil, nil", got, err)
	}
	if err := s.Save(ctx, "alice.tenant", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v2" || err != nil {
		t.Fatalf("Load = %q, %v", got, err)
	}
	exec(t, dbURL, `DROP TABLE idweb_ended_sessions`)
	if err := s.Revocations().End(ctx, "sid", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesBadSettings(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	for _, tc := range []struct {
		name string
		tc   config.TokenCache
		want string
	}{
		{"missing URL", config.TokenCache{}, "TokenCache:PostgresUrl is empty"},
		{"not postgres", config.TokenCache{PostgresURL: "mysql://app:" + secret + "@db/app"}, "TokenCache:PostgresUrl must start with postgres://"},
		{"bad port", config.TokenCache{PostgresURL: "postgres://app:" + secret + "@db:port/app"}, "TokenCache:PostgresUrl"},
		{"bad escape", config.TokenCache{PostgresURL: "postgres://app:" + secret + "%zz@db/app"}, "TokenCache:PostgresUrl is not a URL"},
		{"no host", config.TokenCache{PostgresURL: "postgres:///app?password=" + secret}, "TokenCache:PostgresUrl names no host"},
		{"bad sslmode", config.TokenCache{PostgresURL: "postgres://app:" + secret + "@db/app?sslmode=sometimes"}, "TokenCache:PostgresUrl"},
		{"bad timeout", config.TokenCache{PostgresURL: "postgres://db/app", Timeout: "soon"}, "TokenCache:Timeout"},
		{"bad expiration", config.TokenCache{PostgresURL: "postgres://db/app", SlidingExpiration: "-1h"}, "TokenCache:SlidingExpiration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), &config.Config{TokenCache: tc.tc})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, secret) || strings.Contains(msg, "\n") {
				t.Fatalf("Open: %s\nwant one line containing %q, without the password", msg, tc.want)
			}
		})
	}
}

func TestOpenRefusedByTheServer(t *testing.T) {
	admin := server.URL(t)
	for name, edit := range map[string]func(*url.URL){
		"no such database": func(u *url.URL) { u.Path = "/nosuchdb" },
		"no such role":     func(u *url.URL) { u.User = url.User("nosuchrole") },
	} {
		t.Run(name, func(t *testing.T) {
			u, err := url.Parse(admin)
			if err != nil {
				t.Fatal(err)
			}
			edit(u)
			_, err = Open(context.Background(), &config.Config{TokenCache: config.TokenCache{PostgresURL: u.String(), Timeout: "2s"}},
				WithLogger(slog.New(&logRecorder{})))
			if err == nil || !strings.Contains(err.Error(), "refused the app") {
				t.Fatalf("Open: %v; want it refused at start-up", err)
			}
		})
	}
}

func TestTLSSettings(t *testing.T) {
	pc, mode, err := parseURL("postgres://app:pw@myserver.postgres.database.azure.com/app?sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	tls := pc.ConnConfig.TLSConfig
	if mode != "verify-full" || tls == nil || tls.InsecureSkipVerify || tls.ServerName != "myserver.postgres.database.azure.com" || len(pc.ConnConfig.Fallbacks) != 0 {
		t.Fatalf("verify-full: sslmode %q, TLS %+v, %d fallbacks; want the server's name verified, no plain-text fallback", mode, tls, len(pc.ConnConfig.Fallbacks))
	}

	rec := &logRecorder{}
	s, err := Open(context.Background(), &config.Config{TokenCache: config.TokenCache{
		PostgresURL: "postgres://app:pw@192.0.2.1/app?sslmode=require", Timeout: "100ms"}}, WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if rec.count("verify-full") != 1 {
		t.Fatalf("no warning for sslmode=require on a remote host; logged:\n%s", rec)
	}
}

func TestCallerGivingUpIsNotAnOutage(t *testing.T) {
	s, rec := open(t, newDB(t), config.TokenCache{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Load(ctx, "alice.tenant")
	if !errors.Is(err, context.Canceled) || errors.Is(err, tokencache.ErrUnavailable) {
		t.Fatalf("Load with a canceled context = %v", err)
	}
	if rec.count("unreachable") != 0 {
		t.Fatalf("logged an outage:\n%s", rec)
	}
}

// logRecorder is a slog.Handler that keeps the messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b bytes.Buffer
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, b.String())
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// A role that may not create tables (since PostgreSQL 15, any role but the
// database owner on schema public) is told so at start-up, and works once
// an administrator has created the tables.
func TestRoleWithoutCreatePrivilege(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	role := "app_" + strings.TrimPrefix(u.Path, "/idweb_test_")
	exec(t, dbURL, `CREATE ROLE `+role+` LOGIN PASSWORD 'pw'`)
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		admin.Exec(ctx, `DROP OWNED BY `+role)
		admin.Exec(ctx, `DROP ROLE `+role)
	})
	u.User = url.UserPassword(role, "pw")
	appURL := u.String()

	_, err = Open(ctx, &config.Config{TokenCache: config.TokenCache{PostgresURL: appURL}}, WithLogger(slog.New(&logRecorder{})))
	if err == nil || !strings.Contains(err.Error(), "may not create the tables") {
		t.Fatalf("Open as a role without CREATE = %v", err)
	}

	exec(t, dbURL, Schema)
	exec(t, dbURL, `GRANT SELECT, INSERT, UPDATE, DELETE ON idweb_token_cache, idweb_ended_sessions TO `+role)
	s, _ := open(t, appURL, config.TokenCache{})
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v" || err != nil {
		t.Fatalf("Load = %q, %v", got, err)
	}
	if err := s.Revocations().End(ctx, "sid", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.sweep(ctx); err != nil {
		t.Fatalf("sweep = %d, %v", n, err)
	}
}

func TestExpirationZeroIsNoBound(t *testing.T) {
	ctx := context.Background()
	dbURL := newDB(t)
	s, _ := open(t, dbURL, config.TokenCache{AbsoluteExpiration: "0", SlidingExpiration: "0"})
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var infinite bool
	q := `SELECT expires_at = 'infinity' AND sliding_until = 'infinity' FROM idweb_token_cache`
	if err := connect(t, dbURL).QueryRow(ctx, q).Scan(&infinite); err != nil || !infinite {
		t.Fatalf("with no bounds the row's ends are infinite: %v, %v", infinite, err)
	}
	if got, err := s.Load(ctx, "alice.tenant"); string(got) != "v" || err != nil {
		t.Fatalf("Load = %q, %v", got, err)
	}
	if err := connect(t, dbURL).QueryRow(ctx, q).Scan(&infinite); err != nil || !infinite {
		t.Fatalf("a read bounded the partition: %v, %v", infinite, err)
	}
	if n, err := s.sweep(ctx); n != 0 || err != nil {
		t.Fatalf("sweep = %d, %v; want nothing removed", n, err)
	}
}
