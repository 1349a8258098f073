package layered

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/sealed"
)

// newL1 returns an L1 over l2 that stops with the test.
func newL1(t *testing.T, l2 tokencache.Store, o Options) *Store {
	t.Helper()
	s, err := New(t.Context(), l2, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// goLive waits until n L1s subscribe to shared and makes a delivery, which
// tells them their subscriptions are live.
func goLive(t *testing.T, shared *cachetest.Shared, n int) {
	t.Helper()
	waitSubscribed(t, shared, n)
	shared.Invalidate("")
}

func load(t *testing.T, s tokencache.Store, key string) string {
	t.Helper()
	got, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load %s: %v", key, err)
	}
	return string(got)
}

func save(t *testing.T, s tokencache.Store, key, v string) {
	t.Helper()
	if err := s.Save(context.Background(), key, []byte(v)); err != nil {
		t.Fatalf("Save %s: %v", key, err)
	}
}

func TestContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Store {
		return newL1(t, cachetest.NewShared(), Options{})
	})
	// Two instances, each with its L1, over one shared store.
	cachetest.RunShared(t, func(t *testing.T) (a, b tokencache.Store) {
		l2 := cachetest.NewShared()
		return newL1(t, l2, Options{}), newL1(t, l2, Options{})
	})
}

func TestAnotherInstancesSaveDropsTheCopy(t *testing.T) {
	l2 := cachetest.NewShared()
	a, b := newL1(t, l2, Options{}), newL1(t, l2, Options{})
	goLive(t, l2, 2)

	save(t, a, "alice.tenant", "v1")
	if got := load(t, b, "alice.tenant"); got != "v1" {
		t.Fatalf("B loads %q", got)
	}
	if got := load(t, b, "alice.tenant"); got != "v1" || b.l1.Len() != 1 {
		t.Fatalf("B loads %q with %d copies; want v1 from its L1", got, b.l1.Len())
	}
	save(t, a, "alice.tenant", "v2") // A refreshed alice's tokens
	if b.l1.Len() != 0 {
		t.Errorf("B still holds %d copies after A's save", b.l1.Len())
	}
	if got := load(t, b, "alice.tenant"); got != "v2" {
		t.Fatalf("after A's save, B loads %q; want v2", got)
	}
	if err := a.Delete(context.Background(), "alice.tenant"); err != nil { // alice signed out on A
		t.Fatal(err)
	}
	if got := load(t, b, "alice.tenant"); got != "" {
		t.Fatalf("after A's delete, B loads %q", got)
	}
}

func TestCopiesSpareL2Reads(t *testing.T) {
	clock := cachetest.NewClock()
	l2 := cachetest.NewShared()
	s := newL1(t, l2, Options{TTL: time.Minute, Now: clock.Now})
	goLive(t, l2, 1)
	save(t, s, "alice.tenant", "v1")

	for range 3 {
		if got := load(t, s, "alice.tenant"); got != "v1" {
			t.Fatalf("Load = %q", got)
		}
	}
	if n := l2.Loads(); n != 1 {
		t.Errorf("3 loads read L2 %d times; want 1", n)
	}
	clock.Advance(time.Minute) // the copy's TTL ends
	load(t, s, "alice.tenant")
	if n := l2.Loads(); n != 2 {
		t.Errorf("after the TTL, L2 was read %d times; want 2", n)
	}
	// A missing partition is not kept: the sign-in that follows writes it.
	load(t, s, "bob.tenant")
	load(t, s, "bob.tenant")
	if n := l2.Loads(); n != 4 {
		t.Errorf("two loads of a missing partition read L2 %d times in all; want 4", n)
	}
}

func TestBypassedUntilTheSubscriptionDelivers(t *testing.T) {
	// A change made before the subscription is live is never delivered:
	// copies kept then could be stale for their whole TTL.
	l2 := cachetest.NewShared()
	l2.Put("alice.tenant", []byte("v1"))
	s := newL1(t, l2, Options{})
	waitSubscribed(t, l2, 1)
	load(t, s, "alice.tenant")
	load(t, s, "alice.tenant")
	if n := l2.Loads(); n != 2 {
		t.Errorf("before any delivery, 2 loads read L2 %d times; want 2", n)
	}
	save(t, s, "bob.tenant", "v1") // its own save is delivered back
	load(t, s, "alice.tenant")
	load(t, s, "alice.tenant")
	if n := l2.Loads(); n != 3 {
		t.Errorf("once live, 2 more loads read L2 %d more times; want 1", n-2)
	}
}

func TestOutage(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock()
	l2 := cachetest.NewShared()
	var logs syncBuffer
	s := newL1(t, l2, Options{TTL: time.Minute, ServeStaleFor: 10 * time.Minute, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	goLive(t, l2, 1)
	save(t, s, "alice.tenant", "alice")
	save(t, s, "bob.tenant", "bob")
	load(t, s, "alice.tenant")
	load(t, s, "bob.tenant")

	l2.SetDown(true)
	if got := load(t, s, "alice.tenant"); got != "alice" {
		t.Fatalf("a fresh copy during an outage: %q", got)
	}
	clock.Advance(5 * time.Minute)
	if got := load(t, s, "alice.tenant"); got != "alice" {
		t.Fatalf("a copy past its TTL during an outage: %q", got)
	}
	if !strings.Contains(logs.String(), "answering from in-memory copies") {
		t.Errorf("log = %q", logs.String())
	}
	if _, err := s.Load(ctx, "carol.tenant"); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Errorf("no copy during an outage: %v; want ErrUnavailable", err)
	}
	// A write fails, and drops the copy: it may be older than L2's value.
	if err := s.Save(ctx, "bob.tenant", []byte("bob2")); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Errorf("Save during an outage: %v", err)
	}
	if _, err := s.Load(ctx, "bob.tenant"); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Errorf("Load after a failed save: %v; want ErrUnavailable", err)
	}
	clock.Advance(6 * time.Minute) // past TTL + ServeStaleFor
	if _, err := s.Load(ctx, "alice.tenant"); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Errorf("a copy too old to serve: %v; want ErrUnavailable", err)
	}

	// Back: L2 answers, with what changed during the outage.
	l2.Put("alice.tenant", []byte("changed during the outage"))
	l2.SetDown(false)
	if got := load(t, s, "alice.tenant"); got != "changed during the outage" {
		t.Errorf("after the outage, Load = %q", got)
	}
}

func TestReconnectionDropsEveryCopy(t *testing.T) {
	l2 := cachetest.NewShared()
	s := newL1(t, l2, Options{})
	goLive(t, l2, 1)
	save(t, s, "alice.tenant", "v1")
	load(t, s, "alice.tenant")
	l2.Put("alice.tenant", []byte("v2")) // changed while the subscription was down
	l2.Invalidate("")
	if got := load(t, s, "alice.tenant"); got != "v2" {
		t.Errorf("after a reconnection, Load = %q", got)
	}
}

// slowL2 blocks Loads until released, to change a key during a read.
type slowL2 struct {
	*cachetest.Shared
	started chan struct{}
	release chan struct{}
}

func (s *slowL2) Load(ctx context.Context, key string) ([]byte, error) {
	data, err := s.Shared.Load(ctx, key)
	s.started <- struct{}{}
	<-s.release
	return data, err
}

func TestAChangeDuringARead(t *testing.T) {
	for _, key := range []string{"alice.tenant", ""} {
		l2 := &slowL2{Shared: cachetest.NewShared(), started: make(chan struct{}), release: make(chan struct{})}
		s := newL1(t, l2, Options{})
		goLive(t, l2.Shared, 1)
		l2.Put("alice.tenant", []byte("v1"))

		got := make(chan string)
		go func() { v, _ := s.Load(context.Background(), "alice.tenant"); got <- string(v) }()
		<-l2.started // the read has fetched v1
		// Another instance writes v2 and its invalidation arrives now.
		l2.Put("alice.tenant", []byte("v2"))
		l2.Invalidate(key)
		close(l2.release)
		if v := <-got; v != "v1" {
			t.Fatalf("the racing read = %q", v)
		}
		if s.l1.Len() != 0 {
			t.Errorf("invalidation of %q during the read: the L1 kept the old value", key)
		}
	}
}

func TestAFailedSubscriptionBypassesTheL1(t *testing.T) {
	l2 := cachetest.NewShared()
	var logs syncBuffer
	s := newL1(t, l2, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	goLive(t, l2, 1)
	save(t, s, "alice.tenant", "v1")
	load(t, s, "alice.tenant")

	l2.EndSubscriptions(errors.New("subscription refused"))
	waitFor(t, func() bool { return strings.Contains(logs.String(), "subscription refused") })
	waitSubscribed(t, l2, 1) // renewed, but not yet known to be live
	before := l2.Loads()
	load(t, s, "alice.tenant")
	load(t, s, "alice.tenant")
	if n := l2.Loads() - before; n != 2 {
		t.Errorf("with the subscription in doubt, 2 loads read L2 %d times; want 2", n)
	}
	l2.Invalidate("") // the renewed subscription delivers
	load(t, s, "alice.tenant")
	load(t, s, "alice.tenant")
	if n := l2.Loads() - before; n != 3 {
		t.Errorf("once the subscription delivered, 2 more loads read L2 %d more times; want 1", n-2)
	}
}

func TestNeedsAnInvalidator(t *testing.T) {
	if _, err := New(t.Context(), memory.New(0), Options{}); err == nil || !strings.Contains(err.Error(), "tokencache.Invalidator") {
		t.Errorf("New over a store without invalidations: %v", err)
	}
	// Encryption keeps the invalidations of the store it wraps.
	k, _ := sealed.NewKey("k1", bytes.Repeat([]byte{1}, sealed.KeySize))
	if _, err := New(t.Context(), sealed.Wrap(cachetest.NewShared(), k), Options{}); err != nil {
		t.Errorf("New over a sealed shared store: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	on, off := true, false
	shared, plain := cachetest.NewShared(), memory.New(0)
	tests := []struct {
		name    string
		tc      config.TokenCache
		l2      tokencache.Store
		layered bool
		err     string
	}{
		{"default, shared store", config.TokenCache{MaxPartitions: 5}, shared, true, ""},
		{"off", config.TokenCache{L1: &off}, shared, false, ""},
		{"default, no invalidations", config.TokenCache{}, plain, false, ""},
		{"on, no invalidations", config.TokenCache{L1: &on}, plain, false, "config: TokenCache:L1 is true, but an in-memory copy (L1) needs"},
		{"negative bound", config.TokenCache{MaxPartitions: -1}, shared, false, "config: TokenCache:MaxPartitions is -1"},
	}
	for _, tt := range tests {
		s, err := Open(ctx, &config.Config{TokenCache: tt.tc}, tt.l2)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%s: error %v; want %s…", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		l1, isL1 := s.(*Store)
		if isL1 != tt.layered || (!isL1 && s != tt.l2) {
			t.Errorf("%s: Open returned %T", tt.name, s)
		}
		if isL1 {
			if l1.l1 == nil || l1.ttl != DefaultTTL {
				t.Errorf("%s: ttl %v", tt.name, l1.ttl)
			}
			l1.Close()
		}
	}
}

func TestCloseEndsTheSubscription(t *testing.T) {
	l2 := cachetest.NewShared()
	s, err := New(context.Background(), l2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, l2, 1)
	s.Close()
	if n := l2.Subscribers(); n != 0 {
		t.Errorf("%d subscriptions after Close", n)
	}
}

func TestCheckPassesThrough(t *testing.T) {
	l2 := cachetest.NewShared()
	s := newL1(t, l2, Options{})
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	l2.SetDown(true)
	if err := s.Check(context.Background()); !errors.Is(err, tokencache.ErrUnavailable) {
		t.Errorf("Check with L2 down: %v", err)
	}
}

// syncBuffer is a log written by the subscription's goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitSubscribed(t *testing.T, l2 *cachetest.Shared, n int) {
	t.Helper()
	waitFor(t, func() bool { return l2.Subscribers() == n })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
