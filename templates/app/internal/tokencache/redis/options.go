package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
)

// DefaultTimeout bounds each call to Redis when TokenCache:Timeout is empty:
// long enough for a cross-zone round trip and a reconnection, short enough
// that a page waiting on a dead cache answers 503 before a user gives up.
const DefaultTimeout = 2 * time.Second

// DefaultKeyPrefix starts every key and the invalidation channel. Open
// appends the app's client id, so two apps sharing one Redis never
// overwrite each other's partitions (the same user has the same partition
// key, "<oid>.<tid>", in both).
const DefaultKeyPrefix = "idweb:tc:"

// An Option changes how Open sets up a Store.
type Option func(*options)

type options struct {
	logger *slog.Logger
	prefix string
	// rootCAs replaces the system's roots for rediss:// (tests' own CA).
	rootCAs *x509.CertPool
}

// WithLogger sets where the store reports an outage and its end (once
// each). Without it: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithKeyPrefix replaces the key prefix (DefaultKeyPrefix and the client
// id). Tests use it to share one server; deployments rarely need it.
func WithKeyPrefix(p string) Option {
	return func(o *options) { o.prefix = p }
}

// goredisLogs sends go-redis's own messages to slog at Debug level. It
// logs every failed dial, many a second during an outage; the store logs
// the outage once, at Warn. go-redis has one logger per process, so the
// first Open's logger gets them.
var goredisLogs sync.Once

type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}

// clientOptions turns TokenCache:RedisUrl and TokenCache:Timeout into
// go-redis options. Its errors name the setting and never repeat the URL:
// it may hold a password.
func clientOptions(tc config.TokenCache) (*goredis.Options, time.Duration, error) {
	timeout := DefaultTimeout
	if s := strings.TrimSpace(tc.Timeout); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, 0, fmt.Errorf(`config: TokenCache:Timeout %q is not a positive duration like "2s"`, tc.Timeout)
		}
		timeout = d
	}

	raw := strings.TrimSpace(tc.RedisURL)
	const shape = "redis://[user:password@]host:6379/0, or rediss://host:6380/0 for TLS (Azure Cache for Redis)"
	if raw == "" {
		return nil, 0, fmt.Errorf("config: TokenCache:RedisUrl is empty; set it to %s (TokenCache__RedisUrl in the environment when it holds a password)", shape)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password and all.
		return nil, 0, fmt.Errorf("config: TokenCache:RedisUrl is not a URL (%s); want %s", urlProblem(raw, err), shape)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, 0, fmt.Errorf("config: TokenCache:RedisUrl has scheme %q; want %s", u.Scheme, shape)
	}
	if u.Hostname() == "" {
		return nil, 0, fmt.Errorf("config: TokenCache:RedisUrl has no host; want %s", shape)
	}
	opt, err := goredis.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		return nil, 0, fmt.Errorf("config: TokenCache:RedisUrl: %s; want %s", strings.TrimPrefix(msg, "redis: "), shape)
	}
	if opt.TLSConfig != nil {
		// ParseURL already sets the server name (the URL's host) and TLS
		// 1.2; say so here, because a missing server name would verify
		// nothing.
		opt.TLSConfig.ServerName = u.Hostname()
		opt.TLSConfig.MinVersion = max(opt.TLSConfig.MinVersion, tls.VersionTLS12)
	}

	// Every network step is bounded, whatever the caller's context: a
	// Redis that accepts connections but never answers must not hold a
	// request (or MSAL's cache lock) for longer than the timeout. Timeouts
	// given in the URL's query (dial_timeout=...) are kept.
	for _, d := range []*time.Duration{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout} {
		if *d == 0 {
			*d = timeout
		}
	}
	opt.ContextTimeoutEnabled = true
	// One dial per attempt: go-redis retries the command (MaxRetries)
	// anyway, and five dials with pauses for each would spend the
	// timeout on a Redis that refuses connections instead of failing fast.
	opt.DialerRetries = 1
	return opt, timeout, nil
}

// urlProblem names what url.Parse disliked without the URL itself, and,
// when the URL has a user part, without the quoted piece it pointed at
// (that could be part of the password: "invalid URL escape "%zz"").
func urlProblem(raw string, err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "unparseable"
	}
	msg := ue.Err.Error()
	if _, rest, ok := strings.Cut(raw, "://"); ok && strings.Contains(rest, "@") {
		msg = quoted.ReplaceAllString(msg, `"..."`)
	}
	return msg
}

var quoted = regexp.MustCompile(`"[^"]*"`)
