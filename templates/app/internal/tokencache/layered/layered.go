// Package layered keeps an in-memory copy (L1) of a shared token cache
// (L2: Redis, PostgreSQL) in each instance, so that a request whose user's
// partition was read recently costs no round trip, and a short L2 outage
// does not sign out the users this instance served recently.
//
// A copy must never outlive a change made elsewhere: another instance
// refreshes a user's tokens (the refresh token rotates) or signs the user
// out (the partition is deleted). So an L1 is only put in front of a store
// that announces changes (tokencache.Invalidator); New refuses any other,
// rather than serving stale tokens for a TTL. Each changed key drops its
// copy; "" (after the L2 subscription reconnects) drops them all. Saves and
// deletes go through to L2 and drop this instance's copy before and after,
// so a read racing with them cannot keep the old value.
//
// A subscription starts asynchronously, and a change made before it is live
// is never delivered; so the L1 is used only once the subscription has
// delivered something (its own instance's first save does), and bypassed
// before. If the subscription ends with an error, the L1 is emptied and
// bypassed again until the renewed one delivers (the "" that follows a
// reconnection). Copies are also bounded in time (Options.TTL), in case a
// delivery is lost all the same.
//
// When L2 cannot be reached (its error wraps tokencache.ErrUnavailable),
// Load answers from a copy up to Options.ServeStaleFor past its TTL, with a
// warning; the copy is dropped as soon as L2 announces it is back.
package layered

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

const (
	// DefaultMaxPartitions bounds an L1 when TokenCache:MaxPartitions is 0:
	// the users active on one instance within a few minutes.
	DefaultMaxPartitions = 10_000
	// DefaultTTL is how long a copy is served without asking L2. With
	// invalidations working it only matters if one is lost; it is short
	// because a copy that missed a sign-out keeps tokens usable that long.
	DefaultTTL = 5 * time.Minute
	// DefaultServeStaleFor is how long past its TTL a copy may answer while
	// L2 is unavailable.
	DefaultServeStaleFor = 30 * time.Minute
)

// Options configure an L1.
type Options struct {
	// MaxPartitions bounds the copies kept (least recently used dropped);
	// <= 0: DefaultMaxPartitions.
	MaxPartitions int
	// TTL is how long a copy answers without asking L2; <= 0: DefaultTTL.
	TTL time.Duration
	// ServeStaleFor is how long past its TTL a copy may answer while L2 is
	// unavailable; 0: DefaultServeStaleFor; < 0: never.
	ServeStaleFor time.Duration
	// Now is the clock, for tests; nil: time.Now.
	Now func() time.Time
	// Logger reports the subscription's failures and stale answers; nil:
	// slog.Default().
	Logger *slog.Logger
}

// Open puts an L1 (bounded by TokenCache:MaxPartitions) in front of l2
// unless TokenCache:L1 is false. When TokenCache:L1 is unset and l2
// announces no changes, l2 is returned as is; when it is true, that is an
// error. The L1 follows l2's invalidations until ctx ends.
func Open(ctx context.Context, cfg *config.Config, l2 tokencache.Store) (tokencache.Store, error) {
	tc := cfg.TokenCache
	if tc.L1 != nil && !*tc.L1 {
		return l2, nil
	}
	if _, ok := l2.(tokencache.Invalidator); !ok && tc.L1 == nil {
		return l2, nil
	}
	if tc.MaxPartitions < 0 {
		return nil, fmt.Errorf("config: TokenCache:MaxPartitions is %d: set a positive number, or 0 for the default (%d)", tc.MaxPartitions, DefaultMaxPartitions)
	}
	s, err := New(ctx, l2, Options{MaxPartitions: tc.MaxPartitions})
	if err != nil {
		return nil, fmt.Errorf("config: TokenCache:L1 is true, but %w", err)
	}
	return s, nil
}

// Store is an L1 in front of an L2. Its methods may be called concurrently.
type Store struct {
	l2    tokencache.Store
	l1    *memory.Memory // values: fill time (8 bytes, Unix ns) + partition
	ttl   time.Duration
	stale time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu sync.Mutex
	// inflight counts the L2 reads under way per key; dirty marks those
	// keys changed meanwhile, whose read must not be kept.
	inflight map[string]int
	dirty    map[string]bool
	// epoch counts "" invalidations, which make every read under way stale.
	epoch uint64
	// blind is set while the subscription is not known to be live (from
	// the start, and after it failed until it delivers again): the L1 is
	// then empty and not filled.
	blind bool

	servingStale atomic.Bool // for logging once per outage
	cancel       context.CancelFunc
	done         chan struct{}
}

// New returns an L1 in front of l2, which must implement
// tokencache.Invalidator, and follows its invalidations until ctx ends or
// Close is called.
func New(ctx context.Context, l2 tokencache.Store, o Options) (*Store, error) {
	inv, ok := l2.(tokencache.Invalidator)
	if !ok {
		return nil, fmt.Errorf("an in-memory copy (L1) needs a token cache that announces changes (tokencache.Invalidator), and %T does not: without it another instance's sign-out or refresh would go unseen", l2)
	}
	if o.MaxPartitions <= 0 {
		o.MaxPartitions = DefaultMaxPartitions
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	switch {
	case o.ServeStaleFor == 0:
		o.ServeStaleFor = DefaultServeStaleFor
	case o.ServeStaleFor < 0:
		o.ServeStaleFor = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Store{
		l2: l2,
		// Copies past TTL+ServeStaleFor are of no use; the L1 drops them.
		l1:       memory.NewWith(memory.Options{MaxPartitions: o.MaxPartitions, Expiry: memory.Expiry{Absolute: o.TTL + o.ServeStaleFor}, Now: o.Now}),
		ttl:      o.TTL,
		stale:    o.ServeStaleFor,
		now:      o.Now,
		log:      o.Logger,
		inflight: map[string]int{},
		dirty:    map[string]bool{},
		blind:    true,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go s.follow(ctx, inv)
	return s, nil
}

// Close stops following L2's invalidations; the Store must not be used
// afterwards. It does not close L2.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// follow runs L2's subscription until ctx ends, renewing it when it fails.
func (s *Store) follow(ctx context.Context, inv tokencache.Invalidator) {
	defer close(s.done)
	wait := 100 * time.Millisecond
	for {
		err := inv.Invalidations(ctx, s.invalidate)
		if ctx.Err() != nil {
			return
		}
		// Changes made from now until the renewed subscription is live
		// would go unseen: empty the L1 and leave it aside until then.
		s.mu.Lock()
		s.blind = true
		s.epoch++
		s.l1.Clear()
		s.mu.Unlock()
		s.log.Warn("token cache: the subscription to changes ended; the in-memory copy (L1) is bypassed until it is renewed", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// invalidate drops the copy of key ("": of every key). It is L2's
// subscription callback, and Save and Delete call it for their own key.
func (s *Store) invalidate(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(key)
	s.blind = false // a delivery: the subscription is live
}

func (s *Store) drop(key string) {
	if key == "" {
		s.epoch++
		s.l1.Clear()
		return
	}
	s.l1.Delete(context.Background(), key)
	if s.inflight[key] > 0 {
		s.dirty[key] = true
	}
}

// Load implements tokencache.Store: from the L1 when it holds a copy
// younger than the TTL, otherwise from L2 (keeping a copy), and from an
// older copy when L2 is unavailable.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	now := s.now()
	s.mu.Lock()
	var copyData []byte
	var copyAge time.Duration
	hasCopy := false
	// (While blind, the L1 is empty.)
	if v, _ := s.l1.Load(ctx, key); len(v) >= 8 {
		filled := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		copyData, copyAge, hasCopy = v[8:], now.Sub(filled), true
		if copyAge < s.ttl {
			s.mu.Unlock()
			return copyData, nil
		}
	}
	s.inflight[key]++
	epoch := s.epoch
	s.mu.Unlock()

	data, err := s.l2.Load(ctx, key)

	s.mu.Lock()
	defer s.mu.Unlock()
	changed := s.dirty[key] || s.epoch != epoch
	if s.inflight[key]--; s.inflight[key] == 0 {
		delete(s.inflight, key)
		delete(s.dirty, key)
	}
	if err != nil {
		if errors.Is(err, tokencache.ErrUnavailable) && hasCopy && !changed && copyAge < s.ttl+s.stale {
			if !s.servingStale.Swap(true) {
				s.log.Warn("token cache: the shared cache is unavailable; answering from in-memory copies", "err", err)
			}
			return copyData, nil
		}
		return nil, err
	}
	if s.servingStale.Swap(false) {
		s.log.Info("token cache: the shared cache answers again")
	}
	if data != nil && !changed && !s.blind {
		v := make([]byte, 8+len(data))
		binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
		copy(v[8:], data)
		s.l1.Save(ctx, key, v)
	}
	return data, nil
}

// Save implements tokencache.Store, writing through to L2.
func (s *Store) Save(ctx context.Context, key string, data []byte) error {
	if key == "" {
		return errors.New("token cache: save: empty partition key")
	}
	s.invalidate1(key)
	defer s.invalidate1(key)
	return s.l2.Save(ctx, key, data)
}

// Delete implements tokencache.Store, writing through to L2.
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("token cache: delete: empty partition key")
	}
	s.invalidate1(key)
	defer s.invalidate1(key)
	return s.l2.Delete(ctx, key)
}

// invalidate1 drops this instance's copy of key before and after a write:
// before, so that no read answers the old value once the write may have
// happened; after, so that a read that fetched the old value meanwhile
// does not keep it. (L2's own invalidation follows, later.)
func (s *Store) invalidate1(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(key)
}

// Check implements tokencache.Checker: L2's health (nil when L2 has no
// Checker, as the L1 itself cannot fail).
func (s *Store) Check(ctx context.Context) error {
	if c, ok := s.l2.(tokencache.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Unwrap returns L2.
func (s *Store) Unwrap() tokencache.Store { return s.l2 }
