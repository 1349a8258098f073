// Package redis keeps the token cache in Redis (Azure Cache for Redis in
// production), so that any number of instances serve any user and tokens
// survive a restart or a deployment.
//
// Each partition is a hash {d: data, a: absolute deadline} under
// "<prefix>p:<partition key>", with a TTL on every entry: the earlier of
// TokenCache:AbsoluteExpiration after the last write and
// TokenCache:SlidingExpiration after the last read (defaults 90 and 14
// days, see memory.DefaultExpiry). Reads and writes are small Lua scripts,
// so the sliding refresh cannot outlive the absolute bound, the deadline
// is computed with the server's clock (instances' clocks may differ), and a
// write and its invalidation message are published together or not at
// all.
//
// Redis being down is not a start-up error: the app starts, pages that
// need a token answer 503 (errors wrap tokencache.ErrUnavailable), the
// outage and its end are logged once each, and go-redis reconnects by
// itself. Every call is bounded by TokenCache:Timeout.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

// Store is a tokencache.Store in Redis, shared by every instance of the
// app. It is also a tokencache.Invalidator and a tokencache.Checker, and
// its Revocations share sign-outs between instances.
type Store struct {
	client  *goredis.Client
	prefix  string
	channel string
	timeout time.Duration
	expiry  memory.Expiry
	health  *health
	// pingEvery is how long Invalidations waits in silence before it
	// checks the subscription's connection with a PING.
	pingEvery time.Duration
	closed    atomic.Bool
}

var (
	_ tokencache.Store       = (*Store)(nil)
	_ tokencache.Invalidator = (*Store)(nil)
	_ tokencache.Checker     = (*Store)(nil)
)

// Open connects to TokenCache:RedisUrl. A malformed URL, timeout or
// expiration is an error; Redis being unreachable is not (it is logged,
// and the store serves once Redis answers), so that an outage of the cache
// never keeps the app from starting or restarting.
func Open(ctx context.Context, cfg *config.Config, opts ...Option) (*Store, error) {
	o := options{prefix: DefaultKeyPrefix}
	if cfg.AzureAd.ClientID != "" {
		o.prefix += cfg.AzureAd.ClientID + ":"
	}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	goredisLogs.Do(func() { goredis.SetLogger(debugLogger{o.logger}) })
	copt, timeout, err := clientOptions(cfg.TokenCache)
	if err != nil {
		return nil, err
	}
	if o.rootCAs != nil && copt.TLSConfig != nil {
		copt.TLSConfig.RootCAs = o.rootCAs
	}
	expiry, err := memory.ParseExpiry(cfg.TokenCache)
	if err != nil {
		return nil, err
	}
	s := &Store{
		client:    goredis.NewClient(copt),
		prefix:    o.prefix,
		channel:   o.prefix + "changed",
		timeout:   timeout,
		expiry:    expiry,
		health:    &health{log: o.logger, addr: copt.Addr},
		pingEvery: 30 * time.Second,
	}
	// An unreachable Redis is logged (once) by Check; the app starts and
	// serves tokens once Redis answers.
	_ = s.Check(ctx)
	return s, nil
}

// Close closes the connections to Redis; a running Invalidations returns
// ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.client.Close()
}

// ErrClosed is what Invalidations returns when the store is closed under it.
var ErrClosed = errors.New("redis: token cache store closed")

// Load implements tokencache.Store. A read restarts the sliding expiry,
// never beyond the absolute one.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := loadScript.Run(cctx, s.client, []string{s.partitionKey(key)}, millis(s.expiry.Sliding)).Text()
	if errors.Is(err, goredis.Nil) {
		s.health.ok()
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(ctx, "load", err)
	}
	s.health.ok()
	return []byte(v), nil
}

// Save implements tokencache.Store, and tells every instance (Invalidations)
// that the partition changed.
func (s *Store) Save(ctx context.Context, key string, data []byte) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := saveScript.Run(cctx, s.client, []string{s.partitionKey(key)},
		data, millis(s.expiry.Absolute), millis(s.expiry.Sliding), s.channel, key).Err()
	if err != nil {
		return s.fail(ctx, "save", err)
	}
	s.health.ok()
	return nil
}

// Delete implements tokencache.Store, and tells every instance that the
// partition is gone. Deleting a missing partition is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// DEL and PUBLISH in one transaction: no instance keeps a copy of a
	// partition that is gone here.
	_, err := s.client.TxPipelined(cctx, func(p goredis.Pipeliner) error {
		p.Del(cctx, s.partitionKey(key))
		p.Publish(cctx, s.channel, key)
		return nil
	})
	if err != nil {
		return s.fail(ctx, "delete", err)
	}
	s.health.ok()
	return nil
}

// partitionKey is where partition key lives; "p:" keeps partitions apart
// from the other records under the prefix whatever their keys hold.
func (s *Store) partitionKey(key string) string {
	return s.prefix + "p:" + key
}

// Check implements tokencache.Checker: a PING within the timeout.
func (s *Store) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(cctx).Err(); err != nil {
		return s.fail(ctx, "ping", err)
	}
	s.health.ok()
	return nil
}

// fail wraps err from operation op. Unless the caller gave up (its context
// ended, which says nothing about Redis) or the store is closed, the error
// wraps tokencache.ErrUnavailable and counts towards the outage that is
// logged.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil || s.closed.Load() {
		return fmt.Errorf("redis %s: %w", op, err)
	}
	s.health.failed(err)
	return fmt.Errorf("%w: redis %s: %w", tokencache.ErrUnavailable, op, err)
}

// Invalidations implements tokencache.Invalidator: it subscribes to the
// channel Save and Delete publish on and calls f with each changed key,
// this instance's changes included, until ctx ends; then it returns nil.
// Redis does not keep messages for a subscriber that is away, so after any
// failure (an outage, or Redis down when Invalidations starts) it
// subscribes again and calls f("") once subscribed: anything may have
// changed meanwhile. f runs on Invalidations' goroutine and should be
// quick (drop an L1 entry).
func (s *Store) Invalidations(ctx context.Context, f func(key string)) error {
	// A blocked receive does not watch ctx; closing the subscription when
	// ctx ends unblocks it.
	var (
		mu sync.Mutex
		ps = s.client.Subscribe(ctx, s.channel) // on failure it subscribes on the next receive
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		_ = ps.Close()
	})
	defer func() {
		if stop() {
			_ = ps.Close()
		}
	}()
	var (
		missed  bool // whether f("") is owed once subscribed
		pinged  bool // whether a PING is unanswered
		backoff = minBackoff
	)
	for {
		mu.Lock()
		cur := ps
		mu.Unlock()
		msg, err := cur.ReceiveTimeout(ctx, s.pingEvery)
		if ctx.Err() != nil {
			return nil
		}
		if s.closed.Load() {
			return ErrClosed
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Silence: a quiet channel, or a connection that died
				// without a word (a lost network). A PING tells which.
				pinged = true
				_ = cur.Ping(ctx)
				continue
			}
			missed, pinged = true, false
			s.health.failed(err)
			// A fresh subscription, after a pause that grows while
			// Redis stays away, rather than reading a broken one again.
			_ = cur.Close()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			mu.Lock()
			if ctx.Err() != nil {
				mu.Unlock()
				return nil
			}
			ps = s.client.Subscribe(ctx, s.channel)
			mu.Unlock()
			continue
		}
		pinged, backoff = false, minBackoff
		switch m := msg.(type) {
		case *goredis.Message:
			f(m.Payload)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				s.health.ok()
				if missed {
					missed = false
					f("")
				}
			}
		}
	}
}

// The pause between subscription attempts while Redis is away.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// health logs an outage when the first call fails and its end when a call
// next succeeds: once each, however many requests fail in between.
type health struct {
	log  *slog.Logger
	addr string

	down  atomic.Bool // fast path for ok, called on every success
	mu    sync.Mutex
	since time.Time
}

func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		return
	}
	h.down.Store(true)
	h.since = time.Now()
	h.log.Warn("token cache: Redis is unavailable; pages that need a token answer 503 until it is back",
		"addr", h.addr, "err", err)
}

func (h *health) ok() {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return
	}
	h.down.Store(false)
	h.log.Info("token cache: Redis is available again", "addr", h.addr,
		"down", time.Since(h.since).Round(time.Millisecond).String())
}

// millis is d in whole milliseconds for the scripts, at least 1 for a
// positive d: 0 would mean no bound at all.
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(1, d.Milliseconds())
}

// The scripts take the time from the server: instances' clocks may differ.
// A partition is a hash: d is the data, a the absolute deadline in Unix
// milliseconds (0: none). Durations are milliseconds, 0 for no bound.
var (
	// KEYS[1] partition; ARGV data, absolute, sliding, channel, message.
	saveScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local absolute, sliding = tonumber(ARGV[2]), tonumber(ARGV[3])
local deadline = 0
if absolute > 0 then deadline = now + absolute end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'a', deadline)
local ttl = absolute
if sliding > 0 and (ttl == 0 or sliding < ttl) then ttl = sliding end
if ttl > 0 then
	redis.call('PEXPIRE', KEYS[1], ttl)
else
	redis.call('PERSIST', KEYS[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

	// KEYS[1] partition; ARGV sliding. Returns the data, or nil.
	loadScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'a')
if not v[1] then return false end
local sliding = tonumber(ARGV[1])
local deadline = tonumber(v[2]) or 0
if deadline == 0 and sliding == 0 then return v[1] end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = 0
if deadline > 0 then
	ttl = deadline - now
	if ttl <= 0 then
		redis.call('DEL', KEYS[1])
		return false
	end
end
if sliding > 0 and (ttl == 0 or sliding < ttl) then ttl = sliding end
redis.call('PEXPIRE', KEYS[1], ttl)
return v[1]
`)
)
