package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/redis/redistest"
)

// The options go-redis gets for rediss:// (Azure's shape); TestTLS runs
// them against a TLS server.
func TestTLSOptions(t *testing.T) {
	t.Parallel()
	opt, timeout, err := clientOptions(config.TokenCache{
		RedisURL: "rediss://:s3cret@myapp.redis.cache.windows.net:6380/2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if opt.TLSConfig == nil {
		t.Fatal("rediss:// without TLS")
	}
	if opt.TLSConfig.ServerName != "myapp.redis.cache.windows.net" {
		t.Errorf("ServerName = %q", opt.TLSConfig.ServerName)
	}
	if opt.TLSConfig.InsecureSkipVerify {
		t.Error("certificates are not verified")
	}
	if opt.TLSConfig.MinVersion < tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", opt.TLSConfig.MinVersion)
	}
	if opt.Addr != "myapp.redis.cache.windows.net:6380" || opt.Password != "s3cret" || opt.DB != 2 {
		t.Errorf("Addr %q, Password %q, DB %d", opt.Addr, opt.Password, opt.DB)
	}
	if timeout != DefaultTimeout {
		t.Errorf("timeout = %v, want %v", timeout, DefaultTimeout)
	}
	for name, d := range map[string]time.Duration{"dial": opt.DialTimeout, "read": opt.ReadTimeout, "write": opt.WriteTimeout, "pool": opt.PoolTimeout} {
		if d != DefaultTimeout {
			t.Errorf("%s timeout = %v, want %v", name, d, DefaultTimeout)
		}
	}
	if !opt.ContextTimeoutEnabled {
		t.Error("context deadlines are ignored")
	}

	opt, _, err = clientOptions(config.TokenCache{RedisURL: "redis://localhost:6379", Timeout: "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	if opt.TLSConfig != nil {
		t.Error("redis:// with TLS")
	}
	if opt.ReadTimeout != 300*time.Millisecond {
		t.Errorf("ReadTimeout = %v, want TokenCache:Timeout", opt.ReadTimeout)
	}
	// A timeout in the URL's query is kept.
	opt, _, err = clientOptions(config.TokenCache{RedisURL: "redis://localhost:6379?dial_timeout=5s"})
	if err != nil {
		t.Fatal(err)
	}
	if opt.DialTimeout != 5*time.Second || opt.ReadTimeout != DefaultTimeout {
		t.Errorf("DialTimeout %v, ReadTimeout %v", opt.DialTimeout, opt.ReadTimeout)
	}
}

func TestBadSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tc   config.TokenCache
		want string
	}{
		{config.TokenCache{}, "TokenCache:RedisUrl is empty"},
		{config.TokenCache{RedisURL: "   "}, "TokenCache:RedisUrl is empty"},
		{config.TokenCache{RedisURL: "http://:s3cret@host:6379"}, `TokenCache:RedisUrl has scheme "http"`},
		{config.TokenCache{RedisURL: "host:6379"}, "TokenCache:RedisUrl"},
		{config.TokenCache{RedisURL: "redis://:s3cret@host:port/0"}, "TokenCache:RedisUrl is not a URL (invalid port"},
		{config.TokenCache{RedisURL: "redis://:s3cret%zz@host:6379/0"}, "TokenCache:RedisUrl is not a URL"},
		{config.TokenCache{RedisURL: "redis://:s3cret@host:6379/zero"}, "TokenCache:RedisUrl: invalid database number"},
		{config.TokenCache{RedisURL: "redis://:s3cret@host:6379/0?s3cret=1"}, "TokenCache:RedisUrl: unexpected option"},
		{config.TokenCache{RedisURL: "redis://:s3cret@:6379/0"}, "TokenCache:RedisUrl has no host"},
		{config.TokenCache{RedisURL: "redis://host", Timeout: "2"}, "TokenCache:Timeout"},
		{config.TokenCache{RedisURL: "redis://host", Timeout: "-1s"}, "TokenCache:Timeout"},
		{config.TokenCache{RedisURL: "redis://host", AbsoluteExpiration: "90 days"}, "TokenCache:AbsoluteExpiration"},
		{config.TokenCache{RedisURL: "redis://host", SlidingExpiration: "-1h"}, "TokenCache:SlidingExpiration"},
	} {
		s, err := Open(context.Background(), &config.Config{TokenCache: c.tc})
		if err == nil {
			s.Close()
			t.Errorf("%+v: no error", c.tc)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%+v: %q, want it to contain %q", c.tc, msg, c.want)
		}
		if strings.Contains(msg, "s3cret") || strings.Contains(msg, "%zz") {
			t.Errorf("%+v: the error shows the password: %q", c.tc, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%+v: not one line: %q", c.tc, msg)
		}
	}
}

// withRootCAs trusts a test server's CA instead of the system's.
func withRootCAs(p *x509.CertPool) Option {
	return func(o *options) { o.rootCAs = p }
}

// Against a real TLS server (Debian's redis-server is built with TLS): the
// URL's host is the name the certificate must carry, and nothing falls
// back to plain text or to an unverified certificate.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := redistest.StartWith(t, redistest.Config{TLS: true, Password: "s3cret"})
	ctx := context.Background()
	if !strings.HasPrefix(srv.URL, "rediss://:s3cret@localhost:") {
		t.Fatalf("URL %s", srv.URL)
	}
	s := open(t, srv.URL, config.TokenCache{}, withRootCAs(srv.CAs))
	heard := listen(t, s)
	waitSubscribed(t, rawTLSClient(t, srv), s, 1)
	if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "alice.tenant"); err != nil || string(got) != "tokens" {
		t.Fatalf("Load over TLS = %q, %v", got, err)
	}
	heard.want(t, "alice.tenant")

	port := strconv.Itoa(srv.Port)
	for _, c := range []struct {
		name, url string
		roots     *x509.CertPool
		want      string
	}{
		{"a name the certificate does not carry", "rediss://:s3cret@127.0.0.1:" + port, srv.CAs, "certificate"},
		{"a CA the system does not trust", srv.URL, nil, "certificate"},
		{"plain text to a TLS port", "redis://:s3cret@localhost:" + port, nil, ""},
		{"a wrong password", "rediss://:wrong-pw@localhost:" + port, srv.CAs, "WRONGPASS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []Option
			if c.roots != nil {
				opts = append(opts, withRootCAs(c.roots))
			}
			s := open(t, c.url, config.TokenCache{Timeout: "500ms"}, opts...)
			_, err := s.Load(ctx, "alice.tenant")
			if !errors.Is(err, tokencache.ErrUnavailable) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v; want ErrUnavailable and %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong-pw") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func rawTLSClient(t *testing.T, srv *redistest.Server) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.TLSConfig.RootCAs = srv.CAs
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}
