package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process the benchmark started, in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *logSink
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// startProc starts argv in dir, with its output going to log.
func startProc(name, dir string, env []string, log *logSink, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not
// exited after 5 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	fmt.Fprintf(os.Stderr, "bench: %s did not stop within 5 s of SIGTERM; sending SIGKILL\n", p.name)
	signalGroup(p.cmd.Process, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: %s (pid %d) did not exit after SIGKILL\n", p.name, p.pid())
	}
}

// waitHealthy polls url every 50 ms until it answers 200, the process
// exits, or timeout passes.
func waitHealthy(ctx context.Context, c *http.Client, url string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		cancel()
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered; its output:\n%s", p.name, p.err, url, p.log.tail(2048))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not healthy after %s (last: %v); its output:\n%s", p.name, url, timeout, last, p.log.tail(2048))
		}
	}
}

// logSink writes a process's output to a file and notes when lines
// containing given substrings were written (e.g. the stand-in's
// msg="token issued"); a pattern "!s" matches the lines without s.
type logSink struct {
	mu      sync.Mutex
	f       *os.File
	partial []byte
	watch   []string
	seen    map[string][]time.Time
	example map[string][]logLine // the first lines matching each pattern
	last    []byte               // the end of the output, for error messages
}

func newLogSink(path string, watch ...string) (*logSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &logSink{f: f, watch: watch, seen: map[string][]time.Time{}, example: map[string][]logLine{}}, nil
}

func (s *logSink) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Write(p)
	s.last = append(s.last, p...)
	if len(s.last) > 8192 {
		s.last = append([]byte(nil), s.last[len(s.last)-4096:]...)
	}
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		for _, w := range s.watch {
			neg := strings.HasPrefix(w, "!")
			if bytes.Contains(line, []byte(strings.TrimPrefix(w, "!"))) != neg {
				s.seen[w] = append(s.seen[w], now)
				if len(s.example[w]) < 20 {
					s.example[w] = append(s.example[w], logLine{now, string(line)})
				}
			}
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 1<<16 { // an endless line: keep memory bounded
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

// count returns how many lines containing w were written in [from, to).
func (s *logSink) count(w string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.seen[w] {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

type logLine struct {
	at   time.Time
	text string
}

// examples returns up to 3 of the first 20 lines that matched w, those
// written in [from, to).
func (s *logSink) examples(w string, from, to time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.example[w] {
		if !l.at.Before(from) && l.at.Before(to) && len(out) < 3 {
			out = append(out, l.text)
		}
	}
	return out
}

func (s *logSink) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.last
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimRight(string(b), "\n")
}

func (s *logSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// runCmd runs a command to completion and returns its wall time; on
// failure the error includes its output.
func runCmd(ctx context.Context, dir string, env []string, argv ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return d, fmt.Errorf("%s (in %s): %w\n%s", strings.Join(argv, " "), dir, err, strings.TrimSpace(out.String()))
	}
	return d, nil
}
