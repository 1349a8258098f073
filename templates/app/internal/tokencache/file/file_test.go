package file

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

func newStore(t *testing.T, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		o.Dir = tempDir(t)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tempDir returns a directory for New to create (0700), so that it does
// not warn about the test's own 0755 directory.
func tempDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "cache")
}

func TestContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Store {
		return newStore(t, Options{Expiry: memory.DefaultExpiry})
	})
}

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := tempDir(t)
	old := newStore(t, Options{Dir: dir, Expiry: memory.DefaultExpiry})
	if err := old.Save(ctx, "alice.tenant", []byte(`{"alice":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := old.Save(ctx, "bob.tenant", []byte(`{"bob":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := old.Delete(ctx, "bob.tenant"); err != nil {
		t.Fatal(err)
	}
	restarted := newStore(t, Options{Dir: dir, Expiry: memory.DefaultExpiry})
	for key, want := range map[string]string{"alice.tenant": `{"alice":1}`, "bob.tenant": ""} {
		got, err := restarted.Load(ctx, key)
		if err != nil || string(got) != want {
			t.Errorf("after a restart, Load %s = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestLayoutOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache", "tokens") // created, parents too
	s := newStore(t, Options{Dir: dir})
	keys := []string{"alice.tenant", "../../escape", "a/b"}
	for _, k := range keys {
		if err := s.Save(ctx, k, []byte("tokens of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if !isPartition(e.Name()) {
			t.Errorf("unexpected file %q in the directory", e.Name())
		}
		if strings.Contains(e.Name(), "alice") {
			t.Errorf("file name %q reveals the key", e.Name())
		}
	}
	if len(names) != len(keys) {
		t.Fatalf("directory holds %q, want one file per key", names)
	}
	// Nothing was written next to the directory.
	if parent, _ := os.ReadDir(filepath.Dir(dir)); len(parent) != 1 {
		t.Errorf("the directory's parent holds %d entries", len(parent))
	}
	if runtime.GOOS == "windows" {
		return
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	fst, _ := os.Stat(s.Path("alice.tenant"))
	if fst.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fst.Mode().Perm())
	}
}

func TestExpiry(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		name  string
		exp   memory.Expiry
		steps []string // "+<duration>" advances the clock; "restart"; "save", "load", "gone"
	}{
		{"absolute, even when read", memory.Expiry{Absolute: 10 * h},
			[]string{"save", "+9h", "load", "+59m", "load", "+1m", "gone"}},
		{"absolute restarts with a save", memory.Expiry{Absolute: 10 * h},
			[]string{"save", "+9h", "save", "+9h", "load", "+1h", "gone"}},
		{"sliding, extended by reads", memory.Expiry{Sliding: 2 * h},
			[]string{"save", "+1h59m", "load", "+1h59m", "load", "+2h", "gone"}},
		{"sliding, extended by reads across a restart", memory.Expiry{Sliding: 2 * h},
			[]string{"save", "+1h59m", "load", "restart", "+1h59m", "load"}},
		{"absolute bounds sliding", memory.Expiry{Absolute: 3 * h, Sliding: 2 * h},
			[]string{"save", "+1h", "load", "+1h", "load", "+1h", "gone"}},
		{"none", memory.Expiry{}, []string{"save", "+10000h", "load"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := cachetest.NewClock()
			o := Options{Dir: tempDir(t), Expiry: tt.exp, Now: clock.Now}
			s := newStore(t, o)
			for i, step := range tt.steps {
				switch step {
				case "save":
					if err := s.Save(ctx, "alice.tenant", []byte("tokens")); err != nil {
						t.Fatal(err)
					}
				case "restart":
					s = newStore(t, o)
				case "load", "gone":
					got, err := s.Load(ctx, "alice.tenant")
					if err != nil {
						t.Fatal(err)
					}
					if (got != nil) != (step == "load") {
						t.Fatalf("step %d (%s): Load = %q", i, step, got)
					}
					_, err = os.Stat(s.Path("alice.tenant"))
					if gone := os.IsNotExist(err); gone != (step == "gone") {
						t.Fatalf("step %d (%s): file removed: %v", i, step, gone)
					}
				default:
					d, err := time.ParseDuration(step)
					if err != nil {
						t.Fatal(err)
					}
					clock.Advance(d)
				}
			}
		})
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock()
	s := newStore(t, Options{Expiry: memory.Expiry{Absolute: 10 * time.Hour, Sliding: time.Hour}, Now: clock.Now})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Save(ctx, "left.tenant", []byte("tokens")))
	must(s.Save(ctx, "stays.tenant", []byte("tokens")))
	// A crash mid-write left a temporary file; someone put a file of their own.
	tmp := filepath.Join(s.Dir(), tempPrefix+"123")
	must(os.WriteFile(tmp, []byte("half"), 0o600))
	written := clock.Now().Add(30 * time.Minute) // 40 minutes old at the first sweep
	must(os.Chtimes(tmp, written, written))
	foreign := filepath.Join(s.Dir(), "README")
	must(os.WriteFile(foreign, []byte("mine"), 0o600))

	clock.Advance(50 * time.Minute)
	if _, err := s.Load(ctx, "stays.tenant"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(20 * time.Minute)
	n, err := s.Sweep(ctx)
	must(err)
	if n != 1 {
		t.Errorf("first sweep removed %d files, want 1", n)
	}
	clock.Advance(time.Hour)
	n, err = s.Sweep(ctx)
	must(err)
	if n != 2 {
		t.Errorf("second sweep removed %d files, want 2", n)
	}
	for path, want := range map[string]bool{
		s.Path("left.tenant"): false, s.Path("stays.tenant"): false, tmp: false, foreign: true,
	} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}

func TestSweepEveryStopsWithContext(t *testing.T) {
	clock := cachetest.NewClock()
	s := newStore(t, Options{Expiry: memory.Expiry{Absolute: time.Hour}, Now: clock.Now})
	s.Save(context.Background(), "alice.tenant", []byte("tokens"))
	clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.SweepEvery(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(s.Path("alice.tenant")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not remove an expired file")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("SweepEvery still running after its context ended")
	}
}

func TestConcurrentWritersNeverTearAFile(t *testing.T) {
	// Two stores on one directory stand for two processes (no lock shared):
	// only the rename keeps readers from seeing half of a write.
	ctx := context.Background()
	dir := tempDir(t)
	w1, w2, r := newStore(t, Options{Dir: dir}), newStore(t, Options{Dir: dir}), newStore(t, Options{Dir: dir})
	values := map[string]bool{}
	var list [][]byte
	for i := range 8 {
		v := bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i)
		values[string(v)] = true
		list = append(list, v)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	stop := make(chan struct{})
	for i, v := range list {
		w := []*Store{w1, w2}[i%2]
		wg.Go(func() {
			for range 20 {
				if err := w.Save(ctx, "alice.tenant", v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := r.Load(ctx, "alice.tenant")
				if err != nil {
					errs <- err
					return
				}
				if got != nil && !values[string(got)] {
					errs <- fmt.Errorf("read a torn partition of %d bytes", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after the writes, want 1 (no temporary files left)", len(entries))
	}
}

func TestUnreadableFileIsAMiss(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	s := newStore(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := os.WriteFile(s.Path("alice.tenant"), []byte(`{"plain":"json"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "alice.tenant")
	if err != nil || got != nil {
		t.Fatalf("Load of a foreign file = %q, %v; want a miss", got, err)
	}
	if !strings.Contains(logs.String(), "not a token cache partition") || !strings.Contains(logs.String(), s.Path("alice.tenant")) {
		t.Errorf("log = %q", logs.String())
	}
	if _, err := os.Stat(s.Path("alice.tenant")); !os.IsNotExist(err) {
		t.Error("the foreign file was kept")
	}
}

func TestErrorsNameThePath(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "gone")
	s := newStore(t, Options{Dir: dir})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := s.Save(ctx, "alice.tenant", []byte("tokens"))
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.HasPrefix(err.Error(), "token cache: save: ") {
		t.Errorf("Save into a removed directory: %v", err)
	}
	// A file where the directory should be fails at start-up.
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	if _, err := New(Options{Dir: notDir}); err == nil || !strings.Contains(err.Error(), notDir) {
		t.Errorf("New on a file: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()
	s, err := Open(ctx, &config.Config{Dir: base, TokenCache: config.TokenCache{Directory: ".tokencache", SlidingExpiration: "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	fs := s.(*Store)
	if fs.Dir() != filepath.Join(base, ".tokencache") {
		t.Errorf("a relative directory is %s, want it under the settings' directory", fs.Dir())
	}
	if fs.exp != (memory.Expiry{Absolute: memory.DefaultExpiry.Absolute, Sliding: time.Hour}) {
		t.Errorf("expiry %+v", fs.exp)
	}
	for _, tc := range []config.TokenCache{{}, {Directory: base, AbsoluteExpiration: "forever"}} {
		if _, err := Open(ctx, &config.Config{TokenCache: tc}); err == nil || !strings.HasPrefix(err.Error(), "config: TokenCache:") {
			t.Errorf("Open(%+v): %v, want an error naming the setting", tc, err)
		}
	}
}
