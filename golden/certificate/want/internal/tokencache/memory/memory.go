// Package memory is the in-process token cache: the simplest store, and
// the right one for a single instance. Its contents are lost when the
// process stops (users then sign in again, without an error); run more than
// one instance only with session affinity, or choose a shared cache.
package memory

import (
	"container/list"
	"context"
	"sync"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/tokencache"
)

// Open returns an in-memory Store with the default size limit.
func Open(_ context.Context, _ *config.Config) (tokencache.Store, error) {
	return New(0), nil
}

// Memory is an in-process Store that keeps at most a fixed number of
// partitions, evicting the least recently used. Its contents are lost when
// the process stops; a user whose partition is gone is sent through sign-in
// again without an error.
type Memory struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front: most recently used; values are *memEntry
	entries map[string]*list.Element
}

type memEntry struct {
	key  string
	data []byte
}

// New returns a Store holding up to maxPartitions users (<= 0: 100000).
func New(maxPartitions int) *Memory {
	if maxPartitions <= 0 {
		maxPartitions = 100_000
	}
	return &Memory{max: maxPartitions, order: list.New(), entries: map[string]*list.Element{}}
}

// Load implements tokencache.Store.
func (m *Memory) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.entries[key]
	if !ok {
		return nil, nil
	}
	m.order.MoveToFront(el)
	return el.Value.(*memEntry).data, nil
}

// Save implements tokencache.Store. The slice is kept as is: MSAL hands over a fresh one.
func (m *Memory) Save(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		el.Value.(*memEntry).data = data
		m.order.MoveToFront(el)
		return nil
	}
	m.entries[key] = m.order.PushFront(&memEntry{key: key, data: data})
	for m.order.Len() > m.max {
		oldest := m.order.Back()
		m.order.Remove(oldest)
		delete(m.entries, oldest.Value.(*memEntry).key)
	}
	return nil
}

// Delete implements tokencache.Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.order.Remove(el)
		delete(m.entries, key)
	}
	return nil
}

// Len returns the number of partitions held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}
