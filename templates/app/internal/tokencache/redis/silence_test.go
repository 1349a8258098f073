package redis

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/redis/redistest"
)

// A Redis that accepts connections and then says nothing (a lost network,
// a hung node) must not hold a request past the timeout.
func TestSilentRedisTimesOut(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	const timeout = 300 * time.Millisecond
	start := time.Now()
	s := open(t, "redis://"+l.Addr().String(), config.TokenCache{Timeout: timeout.String()})
	if took := time.Since(start); took > timeout+200*time.Millisecond {
		t.Errorf("Open took %v against a silent Redis; the timeout is %v", took, timeout)
	}
	for _, call := range []func(ctx context.Context) error{
		func(ctx context.Context) error { _, err := s.Load(ctx, "alice.tenant"); return err },
		func(ctx context.Context) error { return s.Save(ctx, "alice.tenant", []byte("x")) },
		func(ctx context.Context) error { return s.Delete(ctx, "alice.tenant") },
		s.Check,
	} {
		start := time.Now()
		err := call(context.Background())
		if took := time.Since(start); took > timeout+200*time.Millisecond {
			t.Errorf("a call took %v against a silent Redis; the timeout is %v", took, timeout)
		}
		if !errors.Is(err, tokencache.ErrUnavailable) {
			t.Errorf("against a silent Redis: %v; want ErrUnavailable", err)
		}
	}
}

// A subscription whose connection goes silent is noticed by a PING within
// two quiet periods, and replaced; f("") follows once it is back.
func TestSilentSubscriptionIsReplaced(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := newFreezer(t, srv.Port)
	logs := &logRecorder{}
	s := open(t, "redis://"+p.addr(), config.TokenCache{Timeout: "300ms"}, WithLogger(slog.New(logs)))
	s.pingEvery = 200 * time.Millisecond
	heard := listen(t, s)
	writer := open(t, srv.URL, config.TokenCache{}, WithKeyPrefix(s.prefix))
	waitSubscribed(t, rawClient(t, srv.URL), s, 1)

	p.freeze(true)
	time.Sleep(time.Second) // quiet 200 ms, PING, quiet 200 ms: dead; then retries
	writer.Save(context.Background(), "alice.tenant", []byte("missed"))
	if k, ok := heard.next(300 * time.Millisecond); ok {
		t.Fatalf("heard %q through a frozen connection", k)
	}
	// Noticed while still frozen, by the PING, not when the link resets.
	if n := logs.count(slog.LevelWarn, "unavailable"); n != 1 {
		t.Fatalf("a silent subscription logged %d outages, want 1:\n%s", n, logs)
	}
	p.freeze(false)
	heard.want(t, "") // alice.tenant was missed: anything may have changed
	waitSubscribed(t, rawClient(t, srv.URL), s, 1)
	writer.Save(context.Background(), "bob.tenant", []byte("heard"))
	heard.want(t, "bob.tenant")
}

// freezer forwards connections to a port until frozen; then it forwards
// nothing and answers nothing, without closing a connection. Thawing
// drops the frozen connections, as a network that comes back finds its
// old connections reset.
type freezer struct {
	l      net.Listener
	target string

	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, port int) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezer{l: l, target: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	t.Cleanup(func() {
		l.Close()
		p.freeze(false)
	})
	go p.serve()
	return p
}

func (p *freezer) addr() string { return p.l.Addr().String() }

func (p *freezer) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		frozen := p.frozen
		p.mu.Unlock()
		if frozen {
			continue // held open, never answered
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until frozen, then stops reading (the bytes stay
// in the kernel's buffers, as on a dead link).
func (p *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *freezer) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen && !on {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
	p.frozen = on
}
