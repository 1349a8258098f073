package memory

import (
	"context"
	"fmt"
	"testing"

	"example.com/certapp/internal/tokencache"
	"example.com/certapp/internal/tokencache/cachetest"
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
