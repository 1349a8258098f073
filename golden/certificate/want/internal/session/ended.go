package session

import (
	"sync"
	"time"
)

// Ended remembers the sessions that were signed out until they would have
// expired anyway. The cookie is self-contained, so without this a copy
// taken before sign-out would still name the user. It lives in this
// process, like the in-memory token cache.
type Ended struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
}

// NewEnded returns an empty set of ended sessions.
func NewEnded() *Ended {
	return &Ended{until: map[string]time.Time{}, now: time.Now}
}

// End marks the session sid as signed out.
func (e *Ended) End(sid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for k, t := range e.until { // keep the set bounded by live sessions
		if now.After(t) {
			delete(e.until, k)
		}
	}
	e.until[sid] = now.Add(Lifetime)
}

// Has reports whether the session sid was signed out.
func (e *Ended) Has(sid string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.until[sid]
	return ok
}
