package tokens

import (
	"sync"
	"time"
)

// recentTokens holds access tokens by user and scope set, each until the
// time MSAL would refresh it. It is bounded: past maxRecentUsers it starts
// over, which costs one cache read per user.
type recentTokens struct {
	mu    sync.RWMutex
	users map[string]map[string]recentToken
}

type recentToken struct {
	token string
	until time.Time
}

const maxRecentUsers = 100_000

func newRecentTokens() *recentTokens {
	return &recentTokens{users: map[string]map[string]recentToken{}}
}

func (r *recentTokens) get(user, scopes string, now time.Time) (string, bool) {
	r.mu.RLock()
	t, ok := r.users[user][scopes]
	r.mu.RUnlock()
	if !ok || !now.Before(t.until) {
		return "", false
	}
	return t.token, true
}

func (r *recentTokens) put(user, scopes, token string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.users) >= maxRecentUsers {
		r.users = map[string]map[string]recentToken{}
	}
	m := r.users[user]
	if m == nil {
		m = map[string]recentToken{}
		r.users[user] = m
	}
	m[scopes] = recentToken{token: token, until: until}
}

func (r *recentTokens) forget(user string) {
	r.mu.Lock()
	delete(r.users, user)
	r.mu.Unlock()
}
