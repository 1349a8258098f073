package memory

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"example.com/demo/internal/config"
	"example.com/demo/internal/tokencache"
	"example.com/demo/internal/tokencache/cachetest"
)

func TestContract(t *testing.T) {
	cachetest.Run(t, func(*testing.T) tokencache.Store { return New(0) })
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	m := New(3)
	for i := range 3 {
		m.Save(ctx, fmt.Sprint(i), []byte{byte(i)})
	}
	m.Load(ctx, "0") // 0 is now the most recently used
	m.Save(ctx, "3", []byte{3})
	if d, _ := m.Load(ctx, "1"); d != nil {
		t.Error("partition 1 should have been evicted")
	}
	for _, k := range []string{"0", "2", "3"} {
		if d, _ := m.Load(ctx, k); d == nil {
			t.Errorf("partition %s is missing", k)
		}
	}
	m.Delete(ctx, "0")
	if d, _ := m.Load(ctx, "0"); d != nil || m.Len() != 2 {
		t.Errorf("Delete left %v, %d partitions", d, m.Len())
	}
}

func TestExpiry(t *testing.T) {
	const h = time.Hour
	// Each step is: advance the clock, then "save", "load" (the partition
	// must be there) or "gone" (it must have expired).
	type step struct {
		advance time.Duration
		op      string
	}
	tests := []struct {
		name  string
		exp   Expiry
		steps []step
	}{
		{"absolute: gone at the bound, even when read", Expiry{Absolute: 10 * h},
			[]step{{0, "save"}, {9 * h, "load"}, {h - 1, "load"}, {1, "gone"}}},
		{"absolute: a save starts it again", Expiry{Absolute: 10 * h},
			[]step{{0, "save"}, {9 * h, "save"}, {9 * h, "load"}, {h, "gone"}}},
		{"sliding: each read extends it", Expiry{Sliding: 2 * h},
			[]step{{0, "save"}, {2*h - 1, "load"}, {2*h - 1, "load"}, {2*h - 1, "load"}, {2 * h, "gone"}}},
		{"sliding: unread, gone at the bound", Expiry{Sliding: 2 * h},
			[]step{{0, "save"}, {2 * h, "gone"}}},
		{"both: sliding cannot outlive absolute", Expiry{Absolute: 3 * h, Sliding: 2 * h},
			[]step{{0, "save"}, {h, "load"}, {h, "load"}, {h, "gone"}}},
		{"both: sliding ends first when unread", Expiry{Absolute: 30 * h, Sliding: 2 * h},
			[]step{{0, "save"}, {h, "load"}, {2 * h, "gone"}}},
		{"none: kept until evicted", Expiry{},
			[]step{{0, "save"}, {10000 * h, "load"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := cachetest.NewClock()
			m := NewWith(Options{Expiry: tt.exp, Now: clock.Now})
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.op {
				case "save":
					if err := m.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
						t.Fatal(err)
					}
				case "load", "gone":
					got, err := m.Load(ctx, "alice.tenant")
					if err != nil {
						t.Fatal(err)
					}
					if (got != nil) != (s.op == "load") {
						t.Fatalf("step %d (+%v, %s): Load = %q", i, s.advance, s.op, got)
					}
				}
			}
		})
	}
}

func TestSaveDropsExpiredPartitions(t *testing.T) {
	// Users who left must not keep their tokens in memory until the
	// bound evicts them: saves drop expired partitions.
	ctx := context.Background()
	clock := cachetest.NewClock()
	m := NewWith(Options{Expiry: Expiry{Sliding: time.Hour}, Now: clock.Now})
	for i := range 5 {
		m.Save(ctx, fmt.Sprintf("left%d.tenant", i), []byte("tokens"))
	}
	clock.Advance(time.Hour)
	m.Save(ctx, "alice.tenant", []byte("tokens"))
	if n := m.Len(); n != 1 {
		t.Fatalf("after a save, %d partitions are held; want 1 (the expired dropped)", n)
	}
}

func TestNewUsesDefaultExpiry(t *testing.T) {
	if m := New(0); m.exp != DefaultExpiry || m.max != DefaultMaxPartitions {
		t.Fatalf("New(0): expiry %+v, max %d", m.exp, m.max)
	}
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		abs, sliding string
		want         Expiry
		err          string
	}{
		{"", "", DefaultExpiry, ""},
		{"720h", "", Expiry{Absolute: 720 * time.Hour, Sliding: DefaultExpiry.Sliding}, ""},
		{"", " 1h30m ", Expiry{Absolute: DefaultExpiry.Absolute, Sliding: 90 * time.Minute}, ""},
		{"0", "0s", Expiry{}, ""},
		{"90d", "", Expiry{}, `config: TokenCache:AbsoluteExpiration "90d" is not a duration`},
		{"", "-1h", Expiry{}, `config: TokenCache:SlidingExpiration "-1h" is not a duration`},
	}
	for _, tt := range tests {
		got, err := ParseExpiry(config.TokenCache{AbsoluteExpiration: tt.abs, SlidingExpiration: tt.sliding})
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("ParseExpiry(%q, %q) error = %v, want %s…", tt.abs, tt.sliding, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseExpiry(%q, %q) = %+v, %v; want %+v", tt.abs, tt.sliding, got, err, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, &config.Config{TokenCache: config.TokenCache{MaxPartitions: 2, SlidingExpiration: "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	m := s.(*Memory)
	if m.max != 2 || m.exp.Sliding != time.Hour || m.exp.Absolute != DefaultExpiry.Absolute {
		t.Errorf("Open: max %d, expiry %+v", m.max, m.exp)
	}
	for _, tc := range []config.TokenCache{{MaxPartitions: -1}, {AbsoluteExpiration: "soon"}} {
		if _, err := Open(ctx, &config.Config{TokenCache: tc}); err == nil || !strings.HasPrefix(err.Error(), "config: TokenCache:") {
			t.Errorf("Open(%+v) error = %v, want one naming the setting", tc, err)
		}
	}
}
