package redis

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
)

// rediss:// is checked here, on the options go-redis gets, rather than
// against a TLS Redis: the parsing (TLS on, the server name the
// certificate must match) is ours; the handshake is crypto/tls's.
func TestTLSOptions(t *testing.T) {
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
