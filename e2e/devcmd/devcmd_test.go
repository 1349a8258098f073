// Package devcmd_test runs a generated project's `make dev` in a terminal
// (a pseudo-terminal, as a shell with job control runs it: make leads the
// foreground process group) and checks what a person sees: Ctrl-C stops
// the app and the stand-in with status 0 and nothing but the "^C" the
// terminal echoes; when the app's port (5000) or the stand-in's (5443) is
// taken, make dev stops both, says why in the failing program's words and
// exits non-zero.
//
// make dev uses the project's own ports, 5000 and 5443: the tests skip when
// something else (another make dev) holds them. Needs make. The local token
// cache servers make dev starts are tested in devstore_test.go (needs
// redis-server and PostgreSQL, which scripts/test installs).
package devcmd_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/idweb-init/idweb-init/generator"
)

const (
	appAddr = "127.0.0.1:5000"
	idpAddr = "127.0.0.1:5443"
	// listening is what the app logs once it listens.
	listening = `msg="listening on http://localhost:5000"`
)

func TestMakeDev(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is not installed (scripts/test installs it): %v", err)
	}
	for _, addr := range []string{appAddr, idpAddr} {
		if inUse(addr) {
			t.Skipf("%s is in use (a make dev?); make dev needs it", addr)
		}
	}
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := generator.Generate(ctx, generator.Options{
		Name: "demo", Output: dir,
		TenantID: "11111111-2222-3333-4444-555555555555",
		ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	}); err != nil {
		t.Fatal(err)
	}
	// Build once, so that each case below starts quickly.
	build := exec.Command("make", "build")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	t.Run("Ctrl-C stops both with status 0", func(t *testing.T) {
		d := startMakeDev(t, dir)
		d.waitFor(t, listening)
		if !inUse(idpAddr) || !inUse(appAddr) {
			t.Fatalf("the app logged that it listens, but nothing listens on %s or %s:\n%s", appAddr, idpAddr, d.output())
		}
		if _, err := d.tty.Write([]byte{3}); err != nil { // Ctrl-C
			t.Fatal(err)
		}
		code := d.wait(t)
		out := d.output()
		if code != 0 {
			t.Errorf("make dev exited with status %d after Ctrl-C, want 0:\n%s", code, out)
		}
		// What follows the app's "listening" line is the echoed ^C and
		// nothing else: no "Segmentation fault", "Terminated", make's
		// "Interrupt" or a shutdown log.
		if after := out[strings.Index(out, listening):]; strings.TrimSpace(strings.ReplaceAll(after[strings.Index(after, "\n")+1:], "^C", "")) != "" {
			t.Errorf("make dev printed more than ^C after Ctrl-C:\n%s", after)
		}
		checkStopped(t)
	})

	t.Run("taken app port", func(t *testing.T) {
		ln, err := net.Listen("tcp", appAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := startMakeDev(t, dir)
		code := d.wait(t)
		out := d.output()
		if code == 0 {
			t.Errorf("make dev exited with status 0 with port 5000 taken:\n%s", out)
		}
		for _, want := range []string{
			`level=ERROR msg="port 5000 is in use (is the app already running?): stop that process or set PORT"`,
			"devidp: local Microsoft Entra ID stand-in", // it had started
		} {
			if !strings.Contains(out, want) {
				t.Errorf("make dev's output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, listening) {
			t.Errorf("the app says it listens:\n%s", out)
		}
		ln.Close()
		checkStopped(t)
	})

	t.Run("taken stand-in port", func(t *testing.T) {
		ln, err := net.Listen("tcp", idpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := startMakeDev(t, dir)
		code := d.wait(t)
		out := d.output()
		if code == 0 {
			t.Errorf("make dev exited with status 0 with port 5443 taken:\n%s", out)
		}
		if want := "devidp: port 5443 is in use (another devidp running?); stop it or set --addr to another port"; !strings.Contains(out, want) {
			t.Errorf("make dev's output lacks %q:\n%s", want, out)
		}
		if strings.Contains(out, "listening on") {
			t.Errorf("the app was started:\n%s", out)
		}
		ln.Close()
		checkStopped(t)
	})
}

// makeDev is a make dev running in a terminal of its own.
type makeDev struct {
	cmd  *exec.Cmd
	tty  *os.File // the terminal's master side
	mu   sync.Mutex
	out  bytes.Buffer
	read chan struct{} // closed when the terminal has no more output
	done chan struct{} // closed when make has exited
	err  error
}

// startMakeDev starts make dev in dir as the leader of a new session whose
// controlling terminal is a new pseudo-terminal, as a shell with job
// control runs a command in the foreground.
func startMakeDev(t *testing.T, dir string) *makeDev {
	t.Helper()
	d := &makeDev{cmd: exec.Command("make", "dev"), read: make(chan struct{}), done: make(chan struct{})}
	d.cmd.Dir = dir
	d.cmd.Env = cleanEnv()
	tty, err := pty.StartWithSize(d.cmd, &pty.Winsize{Rows: 50, Cols: 250})
	if err != nil {
		t.Fatal(err)
	}
	d.tty = tty
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			d.mu.Lock()
			d.out.Write(buf[:n])
			d.mu.Unlock()
			if err != nil {
				close(d.read)
				return
			}
		}
	}()
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			// Whatever is left of the session.
			d.cmd.Process.Signal(os.Interrupt)
			select {
			case <-d.done:
			case <-time.After(10 * time.Second):
				d.cmd.Process.Kill()
				<-d.done
			}
		}
		tty.Close()
	})
	return d
}

func (d *makeDev) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.ReplaceAll(d.out.String(), "\r\n", "\n")
}

// waitFor waits until the output holds s.
func (d *makeDev) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(d.output(), s) {
		select {
		case <-d.done:
			t.Fatalf("make dev exited (%v) before it printed %q:\n%s", d.err, s, d.output())
		case <-deadline:
			t.Fatalf("make dev did not print %q:\n%s", s, d.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait waits for make to exit and returns its exit status, once the
// terminal's output is read.
func (d *makeDev) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("make dev did not exit:\n%s", d.output())
	}
	select {
	case <-d.read:
	case <-time.After(5 * time.Second):
	}
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	t.Fatalf("make dev: %v\n%s", d.err, d.output())
	return -1
}

// checkStopped fails unless both ports are free again: neither program
// outlived make dev.
func checkStopped(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, addr := range []string{appAddr, idpAddr} {
		for inUse(addr) {
			if time.Now().After(deadline) {
				t.Errorf("something still listens on %s after make dev exited", addr)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// inUse reports whether something listens on addr: whether it cannot be
// listened on. (A connection would do, but the stand-in logs a TLS
// handshake error for a connection that says nothing.)
func inUse(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// cleanEnv is the test's environment without what would move the app off
// its defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PORT" || k == "APP_ENV" || strings.Contains(k, "__") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
