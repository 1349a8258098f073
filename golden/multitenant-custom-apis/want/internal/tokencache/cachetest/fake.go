package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/acme/my-app/internal/tokencache"
)

// Shared is an in-memory stand-in for a store shared by instances (Redis,
// PostgreSQL), for testing what layers over one: it implements
// tokencache.Store, tokencache.Invalidator and tokencache.Checker, can be
// taken down, and counts the calls it serves.
//
// Unlike a real shared store it delivers each invalidation before the Save
// or Delete that caused it returns, so tests need not wait for one.
type Shared struct {
	mu   sync.Mutex
	data map[string][]byte
	down bool
	subs map[*sharedSub]struct{}

	loads, saves, deletes atomic.Int64
}

type sharedSub struct {
	f   func(string)
	end chan error
}

// NewShared returns an empty Shared.
func NewShared() *Shared {
	return &Shared{data: map[string][]byte{}, subs: map[*sharedSub]struct{}{}}
}

func (s *Shared) unavailable(op string) error {
	return fmt.Errorf("fake shared store: %s: connection refused: %w", op, tokencache.ErrUnavailable)
}

// Load implements tokencache.Store.
func (s *Shared) Load(_ context.Context, key string) ([]byte, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, s.unavailable("load")
	}
	return bytes.Clone(s.data[key]), nil
}

// Save implements tokencache.Store.
func (s *Shared) Save(_ context.Context, key string, data []byte) error {
	s.saves.Add(1)
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return s.unavailable("save")
	}
	s.data[key] = bytes.Clone(data)
	s.mu.Unlock()
	s.Invalidate(key)
	return nil
}

// Delete implements tokencache.Store.
func (s *Shared) Delete(_ context.Context, key string) error {
	s.deletes.Add(1)
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return s.unavailable("delete")
	}
	delete(s.data, key)
	s.mu.Unlock()
	s.Invalidate(key)
	return nil
}

// Check implements tokencache.Checker.
func (s *Shared) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return s.unavailable("check")
	}
	return nil
}

// Invalidations implements tokencache.Invalidator: f is called with each
// changed key until ctx ends (nil is returned then) or EndSubscriptions.
func (s *Shared) Invalidations(ctx context.Context, f func(key string)) error {
	sub := &sharedSub{f: f, end: make(chan error, 1)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-sub.end:
		return err
	}
}

// Invalidate delivers key to every subscription now, as if another
// instance had changed it ("": anything may have changed).
func (s *Shared) Invalidate(key string) {
	s.mu.Lock()
	subs := make([]*sharedSub, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.f(key)
	}
}

// SetDown takes the store down (every call fails with an error wrapping
// tokencache.ErrUnavailable) or brings it back; coming back delivers ""
// to the subscriptions, as a reconnected subscription does.
func (s *Shared) SetDown(down bool) {
	s.mu.Lock()
	was := s.down
	s.down = down
	s.mu.Unlock()
	if was && !down {
		s.Invalidate("")
	}
}

// EndSubscriptions makes every running Invalidations return err, as a
// subscription that cannot go on does.
func (s *Shared) EndSubscriptions(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		delete(s.subs, sub)
		sub.end <- err
	}
}

// Subscribers returns how many Invalidations calls are running.
func (s *Shared) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Raw returns what the store holds for key, as saved.
func (s *Shared) Raw(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data[key])
}

// Put stores data under key directly, without counting or invalidating
// (for tests that tamper with what is stored).
func (s *Shared) Put(key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = bytes.Clone(data)
}

// Loads, Saves and Deletes return how many calls of each kind the store
// has served (failed ones included).
func (s *Shared) Loads() int64   { return s.loads.Load() }
func (s *Shared) Saves() int64   { return s.saves.Load() }
func (s *Shared) Deletes() int64 { return s.deletes.Load() }
