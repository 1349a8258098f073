package tokens

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"example.com/certapp/internal/tokencache"
)

// recentTokens remembers, per user, the access tokens MSAL last returned
// and the digest of the cache partition they came from. A token is handed
// out again only while the partition in the store is still that one, so
// the memo is exactly as fresh as the store: when another instance
// refreshes the user's tokens or signs the user out, the partition changes
// (or is gone) and the next call asks MSAL. What it saves is MSAL's work
// (parsing the partition twice, searching it); the partition is still read
// on every call, from the in-memory L1 when there is one.
//
// It is bounded: past maxRecentUsers it starts over, which costs one MSAL
// call per user.
type recentTokens struct {
	mu    sync.RWMutex
	users map[string]*recentUser
}

// digest identifies a cache partition's content.
type digest [sha256.Size]byte

type recentUser struct {
	partition digest
	tokens    map[string]recentToken // by scope set
}

type recentToken struct {
	token string
	until time.Time
}

const maxRecentUsers = 100_000

func newRecentTokens() *recentTokens {
	return &recentTokens{users: map[string]*recentUser{}}
}

// get returns the token for user and scopes recorded from partition,
// unless it is due for refresh at now.
func (r *recentTokens) get(user string, partition digest, scopes string, now time.Time) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u, ok := r.users[user]
	if !ok || u.partition != partition {
		return "", false
	}
	t, ok := u.tokens[scopes]
	if !ok || !now.Before(t.until) {
		return "", false
	}
	return t.token, true
}

// put records token for user and scopes, taken from partition. Tokens
// recorded from another partition are dropped.
func (r *recentTokens) put(user string, partition digest, scopes, token string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[user]
	if !ok || u.partition != partition {
		if !ok && len(r.users) >= maxRecentUsers {
			r.users = map[string]*recentUser{}
		}
		u = &recentUser{partition: partition, tokens: map[string]recentToken{}}
		r.users[user] = u
	}
	u.tokens[scopes] = recentToken{token: token, until: until}
}

func (r *recentTokens) forget(user string) {
	r.mu.Lock()
	delete(r.users, user)
	r.mu.Unlock()
}

// watchedStore is a client's view of the token cache: it records the
// digest of the partition a call loaded or saved last, which is the one
// MSAL's answer came from.
type watchedStore struct {
	tokencache.Store
	key  string
	last digest
}

func (w *watchedStore) Load(ctx context.Context, key string) ([]byte, error) {
	data, err := w.Store.Load(ctx, key)
	w.seen(key, data, err)
	return data, err
}

func (w *watchedStore) Save(ctx context.Context, key string, data []byte) error {
	err := w.Store.Save(ctx, key, data)
	w.seen(key, data, err)
	return err
}

func (w *watchedStore) seen(key string, data []byte, err error) {
	if err != nil {
		w.key = ""
		return
	}
	w.key, w.last = key, sha256.Sum256(data)
}

// partition returns the digest of key's partition as the last call saw
// it, or false when the last call was about another partition or failed.
func (w *watchedStore) partition(key string) (digest, bool) {
	return w.last, w.key == key
}

// forgetSeen clears the record before a call.
func (w *watchedStore) forgetSeen() { w.key = "" }
