// Package memory is the in-process token cache: the simplest store, and
// the right one for a single instance. Its contents are lost when the
// process stops (users then sign in again, without an error); run more than
// one instance only with session affinity, or choose a shared cache.
//
// Package layered reuses it as the in-memory copy (L1) in front of a shared
// store, and the file store reuses its Expiry.
package memory

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"hello/internal/config"
	"hello/internal/tokencache"
)

// DefaultMaxPartitions is how many partitions a Memory keeps when no bound
// is set. A partition is a few kilobytes (one user's access, refresh and ID
// tokens), so the default stays within a few hundred megabytes.
const DefaultMaxPartitions = 100_000

// Open returns an in-memory Store bounded by TokenCache:MaxPartitions, whose
// partitions expire after TokenCache:AbsoluteExpiration and
// TokenCache:SlidingExpiration (see DefaultExpiry).
func Open(_ context.Context, cfg *config.Config) (tokencache.Store, error) {
	if cfg.TokenCache.MaxPartitions < 0 {
		return nil, fmt.Errorf("config: TokenCache:MaxPartitions is %d: set a positive number, or 0 for the default (%d)", cfg.TokenCache.MaxPartitions, DefaultMaxPartitions)
	}
	exp, err := ParseExpiry(cfg.TokenCache)
	if err != nil {
		return nil, err
	}
	return NewWith(Options{MaxPartitions: cfg.TokenCache.MaxPartitions, Expiry: exp}), nil
}

// Options configure a Memory made by NewWith.
type Options struct {
	// MaxPartitions bounds the partitions kept; the least recently used
	// are dropped first. <= 0: DefaultMaxPartitions.
	MaxPartitions int
	// Expiry is taken as given: the zero Expiry keeps partitions until they
	// are evicted (New and Open use DefaultExpiry).
	Expiry Expiry
	// Now is the clock, for tests; nil: time.Now.
	Now func() time.Time
}

// Memory is an in-process Store that keeps at most a fixed number of
// partitions, evicting the least recently used, and drops partitions once
// they expire. Its contents are lost when the process stops; a user whose
// partition is gone is sent through sign-in again without an error.
type Memory struct {
	mu      sync.Mutex
	max     int
	exp     Expiry
	now     func() time.Time
	order   *list.List // front: most recently used; values are *memEntry
	entries map[string]*list.Element
}

type memEntry struct {
	key     string
	data    []byte
	written time.Time
	used    time.Time // last read or write
}

// New returns a Store holding up to maxPartitions users (<= 0:
// DefaultMaxPartitions), expiring them after DefaultExpiry.
func New(maxPartitions int) *Memory {
	return NewWith(Options{MaxPartitions: maxPartitions, Expiry: DefaultExpiry})
}

// NewWith returns a Store configured by o.
func NewWith(o Options) *Memory {
	if o.MaxPartitions <= 0 {
		o.MaxPartitions = DefaultMaxPartitions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{max: o.MaxPartitions, exp: o.Expiry, now: o.Now, order: list.New(), entries: map[string]*list.Element{}}
}

// Load implements tokencache.Store. An expired partition is dropped and
// reported missing.
func (m *Memory) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.entries[key]
	if !ok {
		return nil, nil
	}
	e := el.Value.(*memEntry)
	now := m.now()
	if m.exp.Expired(now, e.written, e.used) {
		m.remove(el)
		return nil, nil
	}
	e.used = now
	m.order.MoveToFront(el)
	return e.data, nil
}

// Save implements tokencache.Store. The slice is kept as is: MSAL hands over a fresh one.
func (m *Memory) Save(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if el, ok := m.entries[key]; ok {
		e := el.Value.(*memEntry)
		e.data, e.written, e.used = data, now, now
		m.order.MoveToFront(el)
	} else {
		m.entries[key] = m.order.PushFront(&memEntry{key: key, data: data, written: now, used: now})
	}
	// The back of the list is the partition used least recently, so the
	// first to pass its sliding expiry: dropping expired ones there keeps
	// tokens of users who left from lingering until eviction, at O(1)
	// amortized cost. (One written long ago but read recently waits for
	// its next Load.)
	for el := m.order.Back(); el != nil; el = m.order.Back() {
		e := el.Value.(*memEntry)
		if m.order.Len() <= m.max && !m.exp.Expired(now, e.written, e.used) {
			break
		}
		m.remove(el)
	}
	return nil
}

// Delete implements tokencache.Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.remove(el)
	}
	return nil
}

// Clear drops every partition (package layered, when anything may have
// changed elsewhere).
func (m *Memory) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.order.Init()
	clear(m.entries)
}

func (m *Memory) remove(el *list.Element) {
	m.order.Remove(el)
	delete(m.entries, el.Value.(*memEntry).key)
}

// Len returns the number of partitions held, counting expired ones not yet
// dropped.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}
