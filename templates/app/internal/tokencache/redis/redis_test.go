package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/session"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/redis/redistest"
)

// open returns a store on url whose keys no other test sees, closed when
// t ends.
func open(t *testing.T, url string, tc config.TokenCache, opts ...Option) *Store {
	t.Helper()
	tc.RedisURL = url
	s, err := Open(context.Background(), &config.Config{TokenCache: tc},
		append([]Option{WithKeyPrefix(uniquePrefix()), WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		// Leave a shared server (IDWEB_TEST_REDIS_URL) as it was found.
		ctx := context.Background()
		keys, _ := s.client.Keys(ctx, s.prefix+"*").Result()
		if len(keys) > 0 {
			s.client.Del(ctx, keys...)
		}
		s.Close()
	})
	return s
}

func uniquePrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "idweb-test:" + hex.EncodeToString(b) + ":"
}

// rawClient talks to the server directly, to see what the store wrote.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestContract(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	cachetest.Run(t, func(t *testing.T) tokencache.Store { return open(t, url, config.TokenCache{}) })
}

func TestShared(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	cachetest.RunShared(t, func(t *testing.T) (a, b tokencache.Store) {
		a1 := open(t, url, config.TokenCache{})
		return a1, open(t, url, config.TokenCache{}, WithKeyPrefix(a1.prefix))
	})
}

// Revocations is what package session takes for sign-outs shared by
// instances.
var _ session.Revocations = (*Revocations)(nil)

func TestEveryEntryExpires(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	raw := rawClient(t, url)
	ctx := context.Background()
	for _, c := range []struct {
		name              string
		absolute, sliding string
		wantMin, wantMax  time.Duration // the TTL a fresh write gets
	}{
		{"defaults: the sliding 14 days", "", "", 14*24*time.Hour - time.Minute, 14 * 24 * time.Hour},
		{"absolute shorter than sliding", "1h", "2h", time.Hour - time.Minute, time.Hour},
		{"absolute only", "3h", "0", 3*time.Hour - time.Minute, 3 * time.Hour},
		{"sliding only", "0", "5h", 5*time.Hour - time.Minute, 5 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, url, config.TokenCache{AbsoluteExpiration: c.absolute, SlidingExpiration: c.sliding})
			if err := s.Save(ctx, "alice.tenant", []byte("x")); err != nil {
				t.Fatal(err)
			}
			ttl := raw.PTTL(ctx, s.partitionKey("alice.tenant")).Val()
			if ttl < c.wantMin || ttl > c.wantMax {
				t.Fatalf("TTL after Save = %v, want in [%v, %v]", ttl, c.wantMin, c.wantMax)
			}
			if _, err := s.Load(ctx, "alice.tenant"); err != nil {
				t.Fatal(err)
			}
			ttl = raw.PTTL(ctx, s.partitionKey("alice.tenant")).Val()
			if ttl < c.wantMin || ttl > c.wantMax {
				t.Fatalf("TTL after Load = %v, want in [%v, %v]", ttl, c.wantMin, c.wantMax)
			}
		})
	}
	t.Run("no bound at all is allowed (0 and 0)", func(t *testing.T) {
		s := open(t, url, config.TokenCache{AbsoluteExpiration: "0", SlidingExpiration: "0"})
		s.Save(ctx, "alice.tenant", []byte("x"))
		if ttl := raw.PTTL(ctx, s.partitionKey("alice.tenant")).Val(); ttl != -1 {
			t.Fatalf("TTL = %v, want none (-1)", ttl)
		}
	})
}

func TestSlidingExpiration(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	ctx := context.Background()
	s := open(t, url, config.TokenCache{AbsoluteExpiration: "1m", SlidingExpiration: "500ms"})
	if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
		t.Fatal(err)
	}
	// Read every 150 ms for 1.2 s, well past 500 ms: each read extends it.
	for range 8 {
		time.Sleep(150 * time.Millisecond)
		if got, err := s.Load(ctx, "alice.tenant"); err != nil || string(got) != "tokens" {
			t.Fatalf("Load while in use = %q, %v", got, err)
		}
	}
	time.Sleep(700 * time.Millisecond)
	if got, err := s.Load(ctx, "alice.tenant"); err != nil || got != nil {
		t.Fatalf("Load after 700 ms unused = %q, %v; want nil", got, err)
	}
}

func TestAbsoluteExpirationBoundsSliding(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	ctx := context.Background()
	raw := rawClient(t, url)
	s := open(t, url, config.TokenCache{AbsoluteExpiration: "800ms", SlidingExpiration: "500ms"})
	before := time.Now() // the server's write is after this, and before after
	if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for time.Since(before) < 500*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
		if got, err := s.Load(ctx, "alice.tenant"); err != nil || string(got) != "tokens" {
			t.Fatalf("Load at %v = %q, %v", time.Since(before), got, err)
		}
		// A read never extends a partition beyond its absolute deadline,
		// which is at most 800ms after the Save returned; the TTL is read
		// no earlier than asked.
		asked := time.Now()
		ttl := raw.PTTL(ctx, s.partitionKey("alice.tenant")).Val()
		if left := 800*time.Millisecond - asked.Sub(after); ttl > left+5*time.Millisecond {
			t.Fatalf("TTL after a read at %v = %v, beyond the %v left", asked.Sub(before), ttl, left)
		}
	}
	for time.Since(after) < 900*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
		s.Load(ctx, "alice.tenant") // in use all along
	}
	if got, err := s.Load(ctx, "alice.tenant"); err != nil || got != nil {
		t.Fatalf("Load past the absolute expiration = %q, %v; want nil", got, err)
	}
	// A new write starts a new absolute period.
	s.Save(ctx, "alice.tenant", []byte("new tokens"))
	if got, _ := s.Load(ctx, "alice.tenant"); string(got) != "new tokens" {
		t.Fatalf("Load after a new Save = %q", got)
	}
}

// waitSubscribed waits until n clients listen on s's channel.
func waitSubscribed(t *testing.T, raw *goredis.Client, s *Store, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := raw.PubSubNumSub(context.Background(), s.channel).Val()[s.channel]
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers on %s after 5s, want %d", got, s.channel, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder collects the keys Invalidations reports.
type recorder struct {
	mu   sync.Mutex
	keys []string
	ch   chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) f(key string) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	r.ch <- key
}

// next returns the next key reported within d, and false if none was.
func (r *recorder) next(d time.Duration) (string, bool) {
	select {
	case k := <-r.ch:
		return k, true
	case <-time.After(d):
		return "", false
	}
}

func (r *recorder) want(t *testing.T, key string) {
	t.Helper()
	got, ok := r.next(5 * time.Second)
	if !ok {
		t.Fatalf("no invalidation within 5s, want %q", key)
	}
	if got != key {
		t.Fatalf("invalidation %q, want %q", got, key)
	}
}

// listen runs s.Invalidations until t ends.
func listen(t *testing.T, s *Store) *recorder {
	t.Helper()
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Invalidations(ctx, r.f) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Invalidations returned %v when its context ended", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Invalidations did not return within 5s of its context ending")
		}
	})
	return r
}

func TestAnotherInstanceHearsOfChanges(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	ctx := context.Background()
	raw := rawClient(t, url)
	a := open(t, url, config.TokenCache{})
	b := open(t, url, config.TokenCache{}, WithKeyPrefix(a.prefix)) // another instance
	heard := listen(t, b)
	waitSubscribed(t, raw, b, 1)

	if err := a.Save(ctx, "alice.tenant", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	heard.want(t, "alice.tenant")
	if err := a.Delete(ctx, "alice.tenant"); err != nil {
		t.Fatal(err)
	}
	heard.want(t, "alice.tenant")
	// A read changes nothing, and no "" arrives while Redis stays up.
	a.Load(ctx, "alice.tenant")
	if k, ok := heard.next(200 * time.Millisecond); ok {
		t.Fatalf("unexpected invalidation %q", k)
	}

	// Another app (another prefix) on the same Redis is not heard.
	other := open(t, url, config.TokenCache{})
	other.Save(ctx, "alice.tenant", []byte("elsewhere"))
	if k, ok := heard.next(200 * time.Millisecond); ok {
		t.Fatalf("heard %q from another prefix", k)
	}
}

func TestDefaultPrefixKeepsAppsApart(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	ctx := context.Background()
	openApp := func(clientID string) *Store {
		s, err := Open(ctx, &config.Config{AzureAd: config.AzureAd{ClientID: clientID}, TokenCache: config.TokenCache{RedisURL: url}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.Delete(ctx, "alice.tenant")
			s.Close()
		})
		return s
	}
	id := uniquePrefix()
	app1, app2 := openApp(id+"app1"), openApp(id+"app2")
	if !strings.HasPrefix(app1.prefix, DefaultKeyPrefix) || !strings.Contains(app1.prefix, id+"app1") {
		t.Fatalf("prefix %q: want %q and the client id", app1.prefix, DefaultKeyPrefix)
	}
	app1.Save(ctx, "alice.tenant", []byte("app1"))
	app2.Save(ctx, "alice.tenant", []byte("app2"))
	if got, _ := app1.Load(ctx, "alice.tenant"); string(got) != "app1" {
		t.Fatalf("app1 loads %q", got)
	}
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	ctx := context.Background()
	a := open(t, url, config.TokenCache{})
	b := open(t, url, config.TokenCache{}, WithKeyPrefix(a.prefix)) // another instance
	ra, rb := a.Revocations(), b.Revocations()

	if err := ra.End(ctx, "sid-1", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ended, err := rb.Ended(ctx, "sid-1"); err != nil || !ended {
		t.Fatalf("another instance: Ended(sid-1) = %v, %v; want true", ended, err)
	}
	if ended, err := rb.Ended(ctx, "sid-2"); err != nil || ended {
		t.Fatalf("Ended(sid-2) = %v, %v; want false", ended, err)
	}
	if err := ra.End(ctx, "sid-3", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if ended, _ := rb.Ended(ctx, "sid-3"); ended {
		t.Fatal("a session ended until a time already past is recorded")
	}
	// An ended session is not a partition, whatever the names.
	if data, _ := a.Load(ctx, "ended:sid-1"); data != nil {
		t.Fatalf("Load(ended:sid-1) = %q", data)
	}
	time.Sleep(1200 * time.Millisecond)
	if ended, err := rb.Ended(ctx, "sid-1"); err != nil || ended {
		t.Fatalf("after until: Ended(sid-1) = %v, %v; want false", ended, err)
	}
}

// logRecorder keeps the records logged through it.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records at level have msg containing sub.
func (l *logRecorder) count(level slog.Level, sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, sub) {
			n++
		}
	}
	return n
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, r := range l.records {
		b.WriteString(r.Level.String() + " " + r.Message + "\n")
	}
	return b.String()
}

func TestOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t) // its own server: this test kills it
	ctx := context.Background()
	logs := &logRecorder{}
	const timeout = time.Second
	s := open(t, srv.URL, config.TokenCache{Timeout: timeout.String()}, WithLogger(slog.New(logs)))
	heard := listen(t, s)
	waitSubscribed(t, rawClient(t, srv.URL), s, 1)
	if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
		t.Fatal(err)
	}
	heard.want(t, "alice.tenant")

	srv.Stop()
	calls := map[string]func() error{
		"Load":   func() error { _, err := s.Load(ctx, "alice.tenant"); return err },
		"Save":   func() error { return s.Save(ctx, "alice.tenant", []byte("x")) },
		"Delete": func() error { return s.Delete(ctx, "alice.tenant") },
		"Check":  func() error { return s.Check(ctx) },
		"Ended":  func() error { _, err := s.Revocations().Ended(ctx, "sid"); return err },
		"End": func() error {
			return s.Revocations().End(ctx, "sid", time.Now().Add(time.Hour))
		},
	}
	for range 3 {
		for name, call := range calls {
			start := time.Now()
			err := call()
			if took := time.Since(start); took > timeout+500*time.Millisecond {
				t.Errorf("%s took %v with Redis down; the timeout is %v", name, took, timeout)
			}
			if !errors.Is(err, tokencache.ErrUnavailable) {
				t.Fatalf("%s with Redis down: %v; want an error wrapping ErrUnavailable", name, err)
			}
		}
	}
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs)
	}

	srv.Restart()
	// go-redis reconnects by itself: no call to the store reconnects it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := s.Load(ctx, "alice.tenant")
		if err == nil {
			if data != nil {
				t.Fatalf("the restarted server (no persistence) still has %q", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after Redis came back: %v", name, err)
		}
	}
	if n := logs.count(slog.LevelInfo, "available again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, logs)
	}
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs)
	}

	// Invalidations subscribed again and said that anything may have
	// changed; then it hears changes again.
	heard.want(t, "")
	s.Save(ctx, "bob.tenant", []byte("tokens"))
	for {
		k, ok := heard.next(5 * time.Second)
		if !ok {
			t.Fatal("no invalidation for bob.tenant after the restart")
		}
		if k == "bob.tenant" {
			break
		}
		// The store's own calls above (Save, Delete) were heard too.
	}
}

func TestOpenWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Stop()
	ctx := context.Background()
	logs := &logRecorder{}
	start := time.Now()
	s := open(t, srv.URL, config.TokenCache{Timeout: "1s"}, WithLogger(slog.New(logs)))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Open took %v with Redis down", took)
	}
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 1 {
		t.Fatalf("Open with Redis down logged %d warnings, want 1:\n%s", n, logs)
	}
	heard := listen(t, s)
	if _, err := s.Load(ctx, "alice.tenant"); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Fatalf("Load with Redis down: %v", err)
	}
	srv.Restart()
	// Invalidations could not subscribe at first; once it does it reports "".
	heard.want(t, "")
	if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
		t.Fatalf("Save once Redis is up: %v", err)
	}
	heard.want(t, "alice.tenant")
	if n := logs.count(slog.LevelInfo, "available again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, logs)
	}
}

func TestCallerCancellationIsNotAnOutage(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	logs := &logRecorder{}
	s := open(t, url, config.TokenCache{}, WithLogger(slog.New(logs)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Load(ctx, "alice.tenant")
	if err == nil || errors.Is(err, tokencache.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: %v; want context.Canceled, not ErrUnavailable", err)
	}
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 0 {
		t.Fatalf("a cancelled request was logged as an outage:\n%s", logs)
	}
}

func TestCloseEndsInvalidations(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	logs := &logRecorder{}
	s := open(t, url, config.TokenCache{}, WithLogger(slog.New(logs)))
	done := make(chan error, 1)
	go func() { done <- s.Invalidations(context.Background(), func(string) {}) }()
	waitSubscribed(t, rawClient(t, url), s, 1)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Invalidations after Close returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Invalidations still running 5s after Close")
	}
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 0 {
		t.Fatalf("Close was logged as an outage:\n%s", logs)
	}
}
