// Package tokencache keeps tokens in memory.
package tokencache

import "sync"

// Cache is an in-memory token cache, safe for concurrent use.
type Cache struct {
	mu     sync.Mutex
	tokens map[string][]byte
}

// New returns an empty cache.
func New() *Cache { return &Cache{tokens: map[string][]byte{}} }

// Put stores data under key.
func (c *Cache) Put(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[key] = data
}

// Get returns the data stored under key.
func (c *Cache) Get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.tokens[key]
	return b, ok
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tokens)
}
