// Package file keeps the token cache in a directory, one file per
// partition, for a single instance whose users should stay signed in across
// restarts (a VM, a container with a volume). Several instances must not
// share the directory: use Redis or PostgreSQL for that.
//
// A file's name is the hex SHA-256 of its partition key, so no key (which
// comes from tokens) is ever a path, and the directory does not list who
// signed in. Files are written to a temporary file in the same directory,
// synced and renamed over the old one, so a reader or a crash never sees a
// torn file. The directory is made 0700 and the files are 0600; wrap the
// store with package sealed to encrypt them as well.
//
// Partitions expire as in package memory: Absolute after the last write
// (recorded in the file's header) and Sliding after the last read (the
// file's modification time, moved forward by reads). Expired files are
// removed when read, and by a sweep when the store opens and every hour.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

const (
	// magic starts every partition file: the format and its version.
	magic = "idwtc\x00\x00\x01"
	// headerLen is magic and the time of the write (Unix nanoseconds).
	headerLen = len(magic) + 8
	// tempPrefix names files being written; a crash can leave one behind,
	// and the sweep removes those older than staleTemp.
	tempPrefix = ".tmp-"
	staleTemp  = time.Hour
	// DefaultSweepEvery is how often Open's sweep runs.
	DefaultSweepEvery = time.Hour
)

// Open returns the file Store for TokenCache:Directory (relative to the
// settings' directory; created 0700 if missing) with the expiry of
// TokenCache:AbsoluteExpiration and TokenCache:SlidingExpiration, and
// sweeps expired files now and every hour until ctx ends.
func Open(ctx context.Context, cfg *config.Config) (tokencache.Store, error) {
	dir := strings.TrimSpace(cfg.TokenCache.Directory)
	if dir == "" {
		return nil, errors.New(`config: TokenCache:Directory is empty: set the directory the file token cache keeps its files in, such as ".tokencache"`)
	}
	if !filepath.IsAbs(dir) && cfg.Dir != "" {
		dir = filepath.Join(cfg.Dir, dir)
	}
	exp, err := memory.ParseExpiry(cfg.TokenCache)
	if err != nil {
		return nil, err
	}
	s, err := New(Options{Dir: dir, Expiry: exp})
	if err != nil {
		return nil, err
	}
	go s.SweepEvery(ctx, DefaultSweepEvery)
	return s, nil
}

// Options configure a Store made by New.
type Options struct {
	// Dir is the directory of the partition files.
	Dir string
	// Expiry is taken as given: the zero Expiry keeps files until deleted
	// (Open uses the settings, memory.DefaultExpiry when empty).
	Expiry memory.Expiry
	// Now is the clock, for tests; nil: time.Now.
	Now func() time.Time
	// Logger reports files that are unreadable or swept; nil: slog.Default().
	Logger *slog.Logger
}

// Store is a tokencache.Store keeping one file per partition in a
// directory. Its methods may be called concurrently.
type Store struct {
	dir string
	exp memory.Expiry
	now func() time.Time
	log *slog.Logger
	// locks serialize the operations on a file (by the first byte of its
	// name), so that a Load removing an expired file cannot remove one a
	// concurrent Save has just written.
	locks [64]sync.Mutex
}

// New returns a Store on o.Dir, creating it (0700) if needed and checking
// that files can be written there, so that a wrong path or permission
// fails at start-up rather than at a user's first sign-in.
func New(o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("token cache: directory %s: %w", o.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("token cache: %s is not a directory", dir)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		o.Logger.Warn("token cache: the directory is open to other users; make it private with chmod 700",
			"directory", dir, "mode", st.Mode().Perm().String())
	}
	probe, err := os.CreateTemp(dir, tempPrefix+"probe-*")
	if err != nil {
		return nil, fmt.Errorf("token cache: directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Store{dir: dir, exp: o.Expiry, now: o.Now, log: o.Logger}, nil
}

// Dir returns the store's directory, absolute.
func (s *Store) Dir() string { return s.dir }

// name returns the file name of key's partition.
func name(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// isPartition reports whether a directory entry's name is a partition file's.
func isPartition(n string) bool {
	if len(n) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil
}

// lock returns the lock of a partition file's name.
func (s *Store) lock(n string) *sync.Mutex {
	b, _ := hex.DecodeString(n[:2])
	return &s.locks[int(b[0])%len(s.locks)]
}

// Path returns the file holding key's partition (which may not exist).
func (s *Store) Path(key string) string { return filepath.Join(s.dir, name(key)) }

// Load implements tokencache.Store. An expired or unreadable file is
// removed and reported missing.
func (s *Store) Load(_ context.Context, key string) ([]byte, error) {
	n := name(key)
	path := filepath.Join(s.dir, n)
	mu := s.lock(n)
	mu.Lock()
	defer mu.Unlock()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token cache: load: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token cache: load: %w", err)
	}
	// Files are replaced whole (rename), never written in place: the
	// size is the content's.
	raw := make([]byte, st.Size())
	if _, err := io.ReadFull(f, raw); err != nil {
		return nil, fmt.Errorf("token cache: load: %w", err)
	}
	written, data, ok := parse(raw)
	if !ok {
		// Not written by this store (or a later format): a cache may drop
		// it, and the user signs in again rather than seeing an error.
		s.log.Warn("token cache: removing a file that is not a token cache partition", "path", path)
		s.remove(path)
		return nil, nil
	}
	now := s.now()
	used := st.ModTime()
	if s.exp.Expired(now, written, used) {
		s.remove(path)
		return nil, nil
	}
	// The modification time is the last use for the sliding expiry. It
	// need not be exact: moving it at most once a minute (or 1/100 of the
	// sliding expiry) spares a metadata write on every request.
	if s.exp.Sliding > 0 && now.Sub(used) >= min(time.Minute, s.exp.Sliding/100) {
		if err := os.Chtimes(path, now, now); err != nil {
			s.log.Warn("token cache: cannot record the use of a partition; it may expire early", "path", path, "err", err)
		}
	}
	return data, nil
}

// Save implements tokencache.Store: the partition is written to a
// temporary file, synced, and renamed over the old file.
func (s *Store) Save(_ context.Context, key string, data []byte) error {
	n := name(key)
	path := filepath.Join(s.dir, n)
	mu := s.lock(n)
	mu.Lock()
	defer mu.Unlock()
	now := s.now()
	tmp, err := os.CreateTemp(s.dir, tempPrefix+"*") // 0600
	if err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var header [headerLen]byte
	copy(header[:], magic)
	binary.BigEndian.PutUint64(header[len(magic):], uint64(now.UnixNano()))
	if _, err := tmp.Write(header[:]); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	if err := os.Chtimes(tmp.Name(), now, now); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token cache: save: %w", err)
	}
	ok = true
	s.syncDir()
	return nil
}

// syncDir makes the rename durable. It is best effort: some systems cannot
// sync a directory, and a partition lost in a crash only means signing in
// again.
func (s *Store) syncDir() {
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Delete implements tokencache.Store.
func (s *Store) Delete(_ context.Context, key string) error {
	n := name(key)
	mu := s.lock(n)
	mu.Lock()
	defer mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("token cache: delete: %w", err)
	}
	return nil
}

func (s *Store) remove(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("token cache: cannot remove a file", "path", path, "err", err)
	}
}

// parse splits a partition file into the time of its write and its data.
func parse(raw []byte) (written time.Time, data []byte, ok bool) {
	if len(raw) < headerLen || !bytes.HasPrefix(raw, []byte(magic)) {
		return time.Time{}, nil, false
	}
	ns := binary.BigEndian.Uint64(raw[len(magic):headerLen])
	return time.Unix(0, int64(ns)), raw[headerLen:], true
}

// Sweep removes the expired partition files, and temporary files older than
// an hour (left by a crash mid-write); files it does not know are kept. It
// returns how many files it removed.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("token cache: sweep: %w", err)
	}
	now := s.now()
	removed := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n := e.Name()
		path := filepath.Join(s.dir, n)
		switch {
		case strings.HasPrefix(n, tempPrefix):
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
				if os.Remove(path) == nil {
					removed++
				}
			}
		case isPartition(n) && e.Type().IsRegular():
			if s.sweepOne(path, n, now) {
				removed++
			}
		}
	}
	return removed, nil
}

// sweepOne removes the partition file n if it has expired (or is not one).
func (s *Store) sweepOne(path, n string, now time.Time) bool {
	mu := s.lock(n)
	mu.Lock()
	defer mu.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return false // removed meanwhile
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(f, header); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false
	}
	written, _, ok := parse(header)
	if ok && !s.exp.Expired(now, written, st.ModTime()) {
		return false
	}
	return os.Remove(path) == nil
}

// SweepEvery sweeps now and then every d until ctx ends (Open runs it).
func (s *Store) SweepEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("token cache: sweep failed", "err", err)
		case n > 0:
			s.log.Info("token cache: removed expired partitions", "files", n, "directory", s.dir)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
