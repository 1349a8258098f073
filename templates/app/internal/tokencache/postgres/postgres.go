// Package postgres keeps the token cache in PostgreSQL, shared by every
// instance of the app, so any instance can serve any user and a restart
// loses no tokens.
//
// # Configuration
//
// TokenCache:PostgresUrl (from the environment as TokenCache__PostgresUrl,
// since it holds a password) is a libpq-style URL:
//
//	postgres://app:PASSWORD@myserver.postgres.database.azure.com:5432/app?sslmode=verify-full
//
// For Azure Database for PostgreSQL use sslmode=verify-full: the server's
// certificate chains to public roots (DigiCert Global Root G2, Microsoft
// RSA Root CA 2017) that the system's store trusts, so no sslrootcert is
// needed; set sslrootcert=/path/ca.pem for a private CA. sslmode=require
// encrypts but accepts any certificate, and the default (prefer) may not
// even encrypt: Open logs a warning for either when the host is not local.
// Connect to port 5432, not the built-in PgBouncer's 6432 in transaction
// mode: LISTEN, which drops other instances' in-memory copies, needs a
// session. pgx's own URL parameters work too (pool_max_conns, for one).
//
// TokenCache:Timeout bounds every call (2s when empty), so a database that
// does not answer costs a request at most that long; TokenCache:
// AbsoluteExpiration and TokenCache:SlidingExpiration bound a partition's
// life from when it was last written (2160h, 90 days, when empty: an
// unused refresh token lives no longer) and from when it was last read
// (336h, 14 days: a user not seen for two weeks signs in again), as for
// every store (memory.ParseExpiry; "0": no such bound).
//
// # Tables
//
// Open creates what it needs when it is missing (and again on the first use
// after an outage, or if it was dropped), so the app's database role needs
// CREATE on its schema the first time. Since PostgreSQL 15 only the
// database owner has that on schema public; grant it, or create the tables
// once as an administrator with [Schema]'s statements. Apps may share a
// database: each prefixes its partitions' keys with its client id (the
// same user has the same partition key, "<oid>.<tid>", in both), and
// ignores the other's notifications. A schema of its own per app works too
// (search_path=myapp in the URL).
//
// Expired partitions are never returned, removed when read, and swept in
// bounded batches every few minutes by each instance.
//
// # Outages
//
// When the server cannot be reached every call fails within the timeout with
// an error wrapping [tokencache.ErrUnavailable] (pages answer 503); the
// outage is logged once, and so is its end. Start-up does not fail when the
// server is down (Kubernetes may start the app first), only when the URL is
// malformed or the server refuses the app (wrong password, no database).
// The pool reconnects by itself.
package postgres

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

// Defaults for the TokenCache settings left empty.
const (
	DefaultTimeout            = 2 * time.Second
	DefaultAbsoluteExpiration = 90 * 24 * time.Hour // as memory.DefaultExpiry
	DefaultSlidingExpiration  = 14 * 24 * time.Hour
	// DefaultChannel is the NOTIFY channel saves and deletes are announced on.
	DefaultChannel = "idweb_token_cache"
)

// Schema creates the tables and indexes the store uses; Open runs it when a
// table is missing. An administrator may run it once instead, so that the
// app's role needs no CREATE privilege.
const Schema = `CREATE TABLE IF NOT EXISTS idweb_token_cache (
	key text PRIMARY KEY,
	data bytea NOT NULL,
	expires_at timestamptz NOT NULL,
	sliding_until timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idweb_token_cache_ends ON idweb_token_cache ((LEAST(expires_at, sliding_until)));
CREATE TABLE IF NOT EXISTS idweb_ended_sessions (
	sid text PRIMARY KEY,
	until timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idweb_ended_sessions_until ON idweb_ended_sessions (until);`

// The statements. Times are the server's (now()), so instances with skewed
// clocks agree on what has expired. A partition is alive while both its
// absolute and its sliding end are ahead; an expiration of "0" is NULL
// here, an end of 'infinity' (and a sliding end that never moves).
const (
	tablesExist = `SELECT to_regclass('idweb_token_cache') IS NOT NULL AND to_regclass('idweb_ended_sessions') IS NOT NULL`
	// The advisory lock serializes instances starting together:
	// concurrent CREATE TABLE IF NOT EXISTS can otherwise fail on a
	// duplicate catalog row. Sent without arguments, the statements run
	// in one implicit transaction, which holds the lock.
	createSchema = `SELECT pg_advisory_xact_lock(hashtext('idweb_token_cache'));` + "\n" + Schema

	// load removes the partition if it has expired, and moves its sliding
	// end forward only when that gains more than the slack ($3): a read
	// then costs a write at most once per slack, not on every request.
	// All three parts see the same snapshot, so the SELECT returns the row
	// as it was.
	loadSQL = `WITH gone AS (
	DELETE FROM idweb_token_cache WHERE key = $1 AND LEAST(expires_at, sliding_until) <= now()
), touched AS (
	UPDATE idweb_token_cache SET sliding_until = now() + $2::interval
	WHERE key = $1 AND LEAST(expires_at, sliding_until) > now()
		AND sliding_until < now() + $2::interval - $3::interval
)
SELECT data FROM idweb_token_cache WHERE key = $1 AND LEAST(expires_at, sliding_until) > now()`

	// save and delete announce the key in the same statement: the
	// notification is delivered when the change commits, never before
	// and never without it.
	saveSQL = `WITH saved AS (
	INSERT INTO idweb_token_cache (key, data, expires_at, sliding_until)
	VALUES ($1, $2, COALESCE(now() + $3::interval, 'infinity'), COALESCE(now() + $4::interval, 'infinity'))
	ON CONFLICT (key) DO UPDATE SET data = excluded.data,
		expires_at = excluded.expires_at, sliding_until = excluded.sliding_until
)
SELECT pg_notify($5, $1)`
	deleteSQL = `WITH gone AS (
	DELETE FROM idweb_token_cache WHERE key = $1
)
SELECT pg_notify($2, $1)`

	// The sweeps delete in batches, skipping rows another instance's
	// sweep (or a save) holds, so no statement runs long.
	sweepCacheSQL = `DELETE FROM idweb_token_cache WHERE key IN (
	SELECT key FROM idweb_token_cache WHERE LEAST(expires_at, sliding_until) <= now()
	LIMIT $1 FOR UPDATE SKIP LOCKED)`
	sweepEndedSQL = `DELETE FROM idweb_ended_sessions WHERE sid IN (
	SELECT sid FROM idweb_ended_sessions WHERE until <= now()
	LIMIT $1 FOR UPDATE SKIP LOCKED)`
)

// Store is a tokencache.Store in PostgreSQL. It is also a
// tokencache.Invalidator (LISTEN/NOTIFY) and a tokencache.Checker, and
// [Store.Revocations] shares its connections for the record of ended
// sessions. Its methods are safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	host     string // for log lines; never the URL, which may hold a password
	timeout  time.Duration
	absolute time.Duration
	sliding  time.Duration
	slack    time.Duration
	channel  string
	prefix   string // the app's client id and ":", before every key

	schemaReady atomic.Bool
	down        atomic.Bool
	downSince   atomic.Int64 // unix nanoseconds
	downMu      sync.Mutex   // orders the outage's two log lines

	sweepEvery  time.Duration
	sweepBatch  int
	backoffMin  time.Duration
	backoffMax  time.Duration
	listenCheck time.Duration

	closed    context.Context // done once Close is called
	close     context.CancelFunc
	closeOnce sync.Once
	sweeper   sync.WaitGroup
}

// Option adjusts a Store.
type Option func(*Store)

// WithLogger sets the logger for outages and sweeps; nil: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open connects to cfg.TokenCache.PostgresUrl and creates the tables if they
// are missing. It fails for a malformed URL or settings, or when the server
// refuses the app; when the server cannot be reached it logs that once and
// returns a Store whose calls fail with tokencache.ErrUnavailable until the
// server is back. Close the Store when done.
func Open(ctx context.Context, cfg *config.Config, opts ...Option) (*Store, error) {
	tc := cfg.TokenCache
	s := &Store{
		channel:     DefaultChannel,
		sweepEvery:  10 * time.Minute,
		sweepBatch:  1000,
		backoffMin:  100 * time.Millisecond,
		backoffMax:  5 * time.Second,
		listenCheck: 30 * time.Second,
	}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.timeout = DefaultTimeout
	if v := strings.TrimSpace(tc.Timeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf(`config: TokenCache:Timeout %q is not a positive duration like "2s"`, tc.Timeout)
		}
		s.timeout = d
	}
	exp, err := memory.ParseExpiry(tc)
	if err != nil {
		return nil, err
	}
	s.absolute, s.sliding = exp.Absolute, exp.Sliding
	s.slack = min(s.sliding/100, time.Hour)
	if cfg.AzureAd.ClientID != "" {
		s.prefix = cfg.AzureAd.ClientID + ":"
	}

	pc, sslmode, err := parseURL(tc.PostgresURL)
	if err != nil {
		return nil, err
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		// The pool finishes a connection attempt in the background after
		// the request that started it gave up; bound that too.
		pc.ConnConfig.ConnectTimeout = s.timeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "idweb token cache"
	}
	s.host = pc.ConnConfig.Host
	if !config.IsLoopback(s.host) && !strings.HasPrefix(s.host, "/") && sslmode != "verify-full" && sslmode != "verify-ca" {
		s.log.Warn("token cache: TokenCache:PostgresUrl does not verify the server's certificate; use sslmode=verify-full",
			"host", s.host, "sslmode", cmp.Or(sslmode, "prefer"))
	}
	if s.pool, err = pgxpool.NewWithConfig(context.WithoutCancel(ctx), pc); err != nil {
		return nil, fmt.Errorf("config: TokenCache:PostgresUrl: %s", redact(err.Error(), tc.PostgresURL, pc.ConnConfig.Password))
	}

	// Create the tables now, so a role without the privilege to do so is
	// told at start-up, not on a user's first sign-in.
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	err = s.ensureSchema(sctx)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		s.pool.Close()
		return nil, fmt.Errorf("token cache: PostgreSQL: %w", ctx.Err())
	case refusal(err) != "":
		s.pool.Close()
		return nil, fmt.Errorf("token cache: PostgreSQL at %s refused the app (%s): %w", s.host, refusal(err), err)
	default:
		s.markDown(err)
	}

	s.closed, s.close = context.WithCancel(context.WithoutCancel(ctx))
	s.sweeper.Add(1)
	go s.sweepLoop()
	return s, nil
}

// Close stops the sweep and any Invalidations, and closes the connections.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.close()
		s.sweeper.Wait()
		s.pool.Close()
	})
}

// Load implements tokencache.Store. Reading a partition moves its sliding
// expiration forward.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := s.do(ctx, "load", func(ctx context.Context) error {
		err := s.pool.QueryRow(ctx, loadSQL, s.prefix+key, interval(s.sliding), interval(s.slack)).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			data = nil
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// Save implements tokencache.Store: it writes the partition with fresh
// expirations and notifies every instance's Invalidations of key.
func (s *Store) Save(ctx context.Context, key string, data []byte) error {
	if data == nil {
		data = []byte{} // the column is NOT NULL; an empty partition is still a partition
	}
	return s.do(ctx, "save", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, saveSQL, s.prefix+key, data, interval(s.absolute), interval(s.sliding), s.channel)
		return err
	})
}

// Delete implements tokencache.Store, and notifies every instance's
// Invalidations of key.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.do(ctx, "delete", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, deleteSQL, s.prefix+key, s.channel)
		return err
	})
}

// Check implements tokencache.Checker: the server answers within the
// timeout and the tables exist.
func (s *Store) Check(ctx context.Context) error {
	return s.do(ctx, "check", func(ctx context.Context) error { return s.pool.Ping(ctx) })
}

var (
	_ tokencache.Store       = (*Store)(nil)
	_ tokencache.Invalidator = (*Store)(nil)
	_ tokencache.Checker     = (*Store)(nil)
)

// do runs f within the timeout, creating the tables first if they are not
// known to exist, and turns the outcome into the store's errors and the
// outage's log lines.
func (s *Store) do(ctx context.Context, op string, f func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("token cache: PostgreSQL %s: %w", op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.try(cctx, f)
	switch {
	case err == nil:
		s.markUp()
		return nil
	case ctx.Err() != nil: // the request gave up first: not the store's fault
		return fmt.Errorf("token cache: PostgreSQL %s: %w", op, err)
	case cctx.Err() != nil || unavailable(err):
		s.markDown(err)
		return fmt.Errorf("token cache: PostgreSQL %s: %w: %w", op, tokencache.ErrUnavailable, err)
	default:
		return fmt.Errorf("token cache: PostgreSQL %s: %w", op, err)
	}
}

// try makes f's call once more, within the same deadline, when the first
// failed on a connection that had broken while idle in the pool (the server
// restarted) or because the table has gone: every statement here is
// idempotent, so a repeat is safe.
func (s *Store) try(ctx context.Context, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if !s.schemaReady.Load() {
			if err := s.ensureSchema(ctx); err != nil {
				return err
			}
		}
		err := f(ctx)
		if err == nil || attempt > 0 || ctx.Err() != nil {
			return err
		}
		var pgErr *pgconn.PgError
		var connectErr *pgconn.ConnectError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
			s.schemaReady.Store(false)
		case unavailable(err) && !errors.As(err, &connectErr):
			// A connection that broke while idle: the server restarted
			// or failed over, and the pool's other idle connections
			// broke with it. Drop them all rather than try each.
			s.pool.Reset()
		default:
			return err
		}
	}
}

// ensureSchema creates the tables unless they exist. It looks first, so
// that a role without CREATE works with tables an administrator made.
func (s *Store) ensureSchema(ctx context.Context) error {
	var exist bool
	if err := s.pool.QueryRow(ctx, tablesExist).Scan(&exist); err != nil {
		return err
	}
	if !exist {
		if _, err := s.pool.Exec(ctx, createSchema); err != nil {
			return fmt.Errorf("creating the tables: %w", err)
		}
	}
	s.schemaReady.Store(true)
	return nil
}

// markDown logs the start of an outage, once.
func (s *Store) markDown(err error) {
	if s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if s.down.Load() {
		return
	}
	s.downSince.Store(time.Now().UnixNano())
	s.down.Store(true)
	s.log.Warn("token cache: PostgreSQL is unreachable; requests that need a user's tokens fail until it is back",
		"host", s.host, "err", err)
}

// markUp logs the end of an outage, once.
func (s *Store) markUp() {
	if !s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if !s.down.Load() {
		return
	}
	s.down.Store(false)
	s.log.Info("token cache: PostgreSQL is reachable again", "host", s.host,
		"after", time.Since(time.Unix(0, s.downSince.Load())).Round(time.Millisecond))
}

// unavailable reports whether err means the server could not be reached or
// did not answer, rather than that it refused a statement.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection_exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutting down, starting up
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		// A server that refuses the connection (a rotated password, a
		// dropped database) is unavailable to the app all the same.
		var connectErr *pgconn.ConnectError
		return errors.As(err, &connectErr)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// refusal says what to fix when err is the server (or its certificate)
// turning the app away, which start-up reports instead of waiting for it to
// pass; "" for anything else.
func refusal(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", pgErr.Code == "53300":
			return ""
		case strings.HasPrefix(pgErr.Code, "28"):
			return "check the user and password in TokenCache:PostgresUrl"
		case pgErr.Code == "3D000":
			return "the database in TokenCache:PostgresUrl does not exist"
		case pgErr.Code == "42501":
			return "the role may not create the tables: grant it CREATE on the schema, or have an administrator run postgres.Schema"
		}
		return "check TokenCache:PostgresUrl"
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return "its certificate is not valid for the host in TokenCache:PostgresUrl with the trusted roots (sslrootcert, or the system's)"
	}
	return ""
}

// parseURL parses TokenCache:PostgresUrl, with errors that name the setting
// and never repeat its password.
func parseURL(raw string) (*pgxpool.Config, string, error) {
	const example = "postgres://user:password@host:5432/database?sslmode=verify-full"
	if strings.TrimSpace(raw) == "" {
		return nil, "", fmt.Errorf("config: TokenCache:PostgresUrl is empty: set it (TokenCache__PostgresUrl in the environment) to %s", example)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the URL, password and all
		}
		return nil, "", fmt.Errorf("config: TokenCache:PostgresUrl is not a URL like %s: %s", example, redact(err.Error(), raw, ""))
	}
	password, _ := u.User.Password()
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, "", fmt.Errorf("config: TokenCache:PostgresUrl must start with postgres:// (like %s), not %q", example, u.Scheme+":")
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return nil, "", fmt.Errorf("config: TokenCache:PostgresUrl names no host: %s", example)
	}
	pc, err := pgxpool.ParseConfig(raw)
	if err != nil {
		// pgx's message repeats the URL (password masked): say only what
		// is wrong with it.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "cannot parse `"); ok {
			if _, why, ok := strings.Cut(rest, "`: "); ok {
				msg = why
			}
		}
		return nil, "", fmt.Errorf("config: TokenCache:PostgresUrl: %s", redact(msg, raw, password))
	}
	sslmode := u.Query().Get("sslmode")
	if sslmode == "" {
		sslmode = os.Getenv("PGSSLMODE")
	}
	if u.Query().Get("sslrootcert") == "system" {
		sslmode = "verify-full"
	}
	return pc, sslmode, nil
}

// redact removes the URL and its password from an error message.
func redact(msg, raw, password string) string {
	msg = strings.ReplaceAll(msg, raw, "TokenCache:PostgresUrl")
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
		if p := url.QueryEscape(password); p != password {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		if p := url.PathEscape(password); p != password {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// interval is d as an SQL interval; NULL when d <= 0 (no bound).
func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: d > 0}
}

// sweepLoop removes expired rows every sweepEvery (with jitter, so
// instances started together do not sweep together) until Close.
func (s *Store) sweepLoop() {
	defer s.sweeper.Done()
	for {
		wait := s.sweepEvery/2 + rand.N(s.sweepEvery)
		select {
		case <-s.closed.Done():
			return
		case <-time.After(wait):
		}
		if n, err := s.sweep(s.closed); err != nil {
			if !errors.Is(err, tokencache.ErrUnavailable) && s.closed.Err() == nil { // an outage is logged already
				s.log.Warn("token cache: removing expired partitions", "err", err)
			}
		} else if n > 0 {
			s.log.Debug("token cache: removed expired partitions and ended sessions", "rows", n)
		}
	}
}

// sweep deletes expired partitions and ended sessions, a batch per
// statement, at most 100 batches of each per round.
func (s *Store) sweep(ctx context.Context) (int64, error) {
	var total int64
	for _, q := range []string{sweepCacheSQL, sweepEndedSQL} {
		for range 100 {
			var n int64
			err := s.do(ctx, "sweep", func(ctx context.Context) error {
				tag, err := s.pool.Exec(ctx, q, s.sweepBatch)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if n < int64(s.sweepBatch) {
				break
			}
		}
	}
	return total, nil
}
