package cachetest

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told, for testing expiry: pass
// its Now where a store takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to a fixed, arbitrary time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
