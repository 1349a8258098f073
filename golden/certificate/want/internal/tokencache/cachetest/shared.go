package cachetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"example.com/certapp/internal/tokencache"
)

// Wait bounds how long RunShared waits for an invalidation to arrive or a
// subscription to end. Shared stores deliver in milliseconds; the margin is
// for loaded CI machines.
var Wait = 10 * time.Second

// probeKey is the partition RunShared saves until a subscription is seen to
// be live; no other test uses it.
const probeKey = "cachetest.probe"

// RunShared runs the contract of a store that several instances share
// (Redis, PostgreSQL). open returns two handles on one fresh, empty store,
// as two instances of the app would hold (two clients, two connections),
// for each subtest; the handles are closed by open's t.Cleanup.
//
// It checks that each handle sees the other's saves and deletes at once,
// and, when the handles implement tokencache.Invalidator, that a save or
// delete through either handle reaches the subscriptions of both (the
// writer's own included) with the changed key, that the change is visible
// to a Load by the time its key is delivered, and that Invalidations
// returns when its context ends. A Checker must report a reachable store
// healthy. Behaviour across an outage (the "" after a reconnection,
// ErrUnavailable) depends on how each backend is stopped: test it in the
// backend's own tests.
func RunShared(t *testing.T, open func(t *testing.T) (a, b tokencache.Store)) {
	t.Helper()
	ctx := context.Background()

	t.Run("each handle sees the other's saves and deletes", func(t *testing.T) {
		a, b := open(t)
		mustSave(t, a, "alice.tenant", `{"v":1}`)
		wantLoad(t, b, "alice.tenant", `{"v":1}`)
		mustSave(t, b, "alice.tenant", `{"v":2}`)
		wantLoad(t, a, "alice.tenant", `{"v":2}`)
		if err := b.Delete(ctx, "alice.tenant"); err != nil {
			t.Fatal(err)
		}
		wantLoad(t, a, "alice.tenant", "")
	})

	t.Run("invalidations reach every handle, the writer's own too", func(t *testing.T) {
		a, b := open(t)
		subA, subB := Subscribe(t, a), Subscribe(t, b)
		AwaitLive(t, b, subA, subB)

		mustSave(t, b, "alice.tenant", `{"v":1}`)
		subA.Await(t, "alice.tenant")
		// An instance drops its copy when the key arrives and reads again:
		// the new value must be there by then.
		wantLoad(t, a, "alice.tenant", `{"v":1}`)
		subB.Await(t, "alice.tenant") // the writer's own L1 holds a copy too
		if err := a.Delete(ctx, "alice.tenant"); err != nil {
			t.Fatal(err)
		}
		subA.Await(t, "alice.tenant")
		subB.Await(t, "alice.tenant")
		wantLoad(t, b, "alice.tenant", "")
	})

	t.Run("Invalidations returns when its context ends", func(t *testing.T) {
		a, _ := open(t)
		inv, ok := a.(tokencache.Invalidator)
		if !ok {
			t.Skipf("%T does not implement tokencache.Invalidator", a)
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- inv.Invalidations(ctx, func(string) {}) }()
		cancel()
		select {
		case <-done:
		case <-time.After(Wait):
			t.Fatalf("Invalidations still running %v after its context ended", Wait)
		}
	})

	t.Run("a reachable store is healthy", func(t *testing.T) {
		a, b := open(t)
		for _, s := range []tokencache.Store{a, b} {
			c, ok := s.(tokencache.Checker)
			if !ok {
				t.Skipf("%T does not implement tokencache.Checker", s)
			}
			if err := c.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
		}
	})
}

// Subscription records the keys a tokencache.Invalidator delivers.
type Subscription struct {
	mu   sync.Mutex
	seen []string
	more chan struct{} // closed and replaced when a key arrives
	done chan error    // what Invalidations returned
}

// Subscribe calls s's Invalidations in a goroutine until the test ends,
// recording every key. It skips the test when s is not an Invalidator.
func Subscribe(t *testing.T, s tokencache.Store) *Subscription {
	t.Helper()
	inv, ok := s.(tokencache.Invalidator)
	if !ok {
		t.Skipf("%T does not implement tokencache.Invalidator", s)
	}
	sub := &Subscription{more: make(chan struct{}), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sub.done <- inv.Invalidations(ctx, func(key string) {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			sub.seen = append(sub.seen, key)
			close(sub.more)
			sub.more = make(chan struct{})
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sub.done:
		case <-time.After(Wait):
			t.Errorf("Invalidations still running %v after its context ended", Wait)
		}
	})
	return sub
}

// Await waits up to Wait until key has been delivered (or "", which means
// any key may have changed) since the last Await that returned, and fails
// the test otherwise.
func (s *Subscription) Await(t *testing.T, key string) {
	t.Helper()
	if !s.await(key, time.Now().Add(Wait)) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("invalidation of %q not delivered within %v; delivered: %q", key, Wait, s.seen)
	}
}

// await consumes delivered keys up to and including the first that is key
// or "", and reports whether one came before deadline.
func (s *Subscription) await(key string, deadline time.Time) bool {
	for {
		s.mu.Lock()
		for i, k := range s.seen {
			if k == key || k == "" {
				s.seen = s.seen[i+1:]
				s.mu.Unlock()
				return true
			}
		}
		more := s.more
		s.mu.Unlock()
		select {
		case <-more:
		case err := <-s.done:
			s.done <- err // for Cleanup
			return false
		case <-time.After(time.Until(deadline)):
			return false
		}
	}
}

// AwaitLive saves a probe partition through w until every subscription has
// delivered it: a subscription starts asynchronously, and a change made
// before it is live is (rightly) never delivered. The probe is then deleted
// and its deliveries consumed.
func AwaitLive(t *testing.T, w tokencache.Store, subs ...*Subscription) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(Wait)
	for _, sub := range subs {
		for {
			if err := w.Save(ctx, probeKey, []byte("probe")); err != nil {
				t.Fatalf("Save %s: %v", probeKey, err)
			}
			if sub.await(probeKey, time.Now().Add(100*time.Millisecond)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no subscription live within %v", Wait)
			}
		}
	}
	if err := w.Delete(ctx, probeKey); err != nil {
		t.Fatalf("Delete %s: %v", probeKey, err)
	}
	for _, sub := range subs {
		sub.Await(t, probeKey)
	}
}

// NoPlaintext fails the test if raw (what a store wrote: a file, a Redis
// value, a database row) contains secret, as is, hex-encoded, or
// base64-encoded at any alignment (standard or URL alphabet). Use a secret
// of at least 16 bytes that appears nowhere else, such as a fake refresh
// token saved through an encrypting store.
func NoPlaintext(t *testing.T, raw []byte, secret string) {
	t.Helper()
	if len(secret) < 16 {
		t.Fatalf("NoPlaintext: secret %q is too short to be found reliably; use at least 16 bytes", secret)
	}
	if err := findPlaintext(raw, secret); err != nil {
		t.Fatal(err)
	}
}

func findPlaintext(raw []byte, secret string) error {
	forms := map[string]string{
		"as is":     secret,
		"hex":       hex.EncodeToString([]byte(secret)),
		"HEX":       string(bytes.ToUpper([]byte(hex.EncodeToString([]byte(secret))))),
		"UTF-16 LE": utf16le(secret),
	}
	// In base64, a secret inside a longer value encodes differently for
	// each of its three possible offsets; the characters that also depend
	// on the bytes around it (up to 3 at the start, 4 at the end) are cut.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pad := range 3 {
			s := enc.EncodeToString(append(make([]byte, pad), secret...))
			s = s[(pad*8+5)/6 : len(s)-4]
			forms[fmt.Sprintf("base64 at offset %d", pad)] = s
		}
	}
	for form, s := range forms {
		if len(s) >= 8 && bytes.Contains(raw, []byte(s)) {
			return errors.New("the store's raw bytes hold the secret in plain text (" + form + ")")
		}
	}
	return nil
}

func utf16le(s string) string {
	var b []byte
	for _, r := range s {
		if r > 0xFFFF {
			return s // rare; the plain form is searched anyway
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}
