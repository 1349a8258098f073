package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the app devidp runs:
// "<test binary> fakeapp serve|fail".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "fakeapp" {
		os.Exit(fakeApp(os.Args[2]))
	}
	os.Exit(m.Run())
}

// fakeApp is an app that serves until interrupted, or fails to start as
// the app does when its port is taken.
func fakeApp(mode string) int {
	switch mode {
	case "serve":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		fmt.Printf("fakeapp: serving with APP_ENV=%s\n", os.Getenv("APP_ENV"))
		select {
		case s := <-sig:
			fmt.Printf("fakeapp: stopped by %v\n", s)
			return 0
		case <-time.After(time.Minute):
			return 9
		}
	case "fail":
		fmt.Fprintln(os.Stderr, "fakeapp: port 5000 is in use")
		return 3
	}
	return 2
}

// startSupervised runs devidp with the fake app in mode on a free port,
// and returns its output and the channel of run's result.
func startSupervised(t *testing.T, ctx context.Context, mode string, extra ...string) (out *syncBuffer, done <-chan error) {
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--config", writeTestConfig(t), "--state-dir", filepath.Join(t.TempDir(), "state")}, extra...)
	args = append(args, "--", os.Args[0], "fakeapp", mode)
	out = &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, out, out) }()
	return out, errc
}

// waitFor waits until the output matches re and returns the match.
func waitFor(t *testing.T, out *syncBuffer, done <-chan error, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("run returned (%v) before the output matched %s:\n%s", err, re, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the output does not match %s:\n%s", re, out.String())
		}
	}
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
		return nil
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// The app starts once the stand-in listens, in Development; Ctrl-C (here
// a signal to devidp alone, which it passes on) stops both, and that is
// success.
func TestCommandRunsUntilInterrupted(t *testing.T) {
	t.Setenv("APP_ENV", "Production")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, done := startSupervised(t, ctx, "serve")
	addr := waitFor(t, out, done, `at https://(127\.0\.0\.1:\d+)/ for tenant`)[1]
	waitFor(t, out, done, `fakeapp: serving with APP_ENV=Development\n`)
	if i, j := strings.Index(out.String(), "devidp: local Microsoft Entra ID stand-in"), strings.Index(out.String(), "fakeapp:"); i < 0 || j < i {
		t.Errorf("the app started before the stand-in listened:\n%s", out.String())
	}
	if !listening(addr) {
		t.Fatal("the stand-in does not listen while the app runs")
	}
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Errorf("run: %v, want nil after an interrupt", err)
	}
	if !strings.Contains(out.String(), "fakeapp: stopped by interrupt\n") {
		t.Errorf("the app was not interrupted:\n%s", out.String())
	}
	if listening(addr) {
		t.Error("the stand-in still listens")
	}
}

// An app that cannot start stops the stand-in, and devidp exits with the
// app's status without adding to its message.
func TestCommandFailureStopsStandIn(t *testing.T) {
	out, done := startSupervised(t, context.Background(), "fail")
	addr := waitFor(t, out, done, `at https://(127\.0\.0\.1:\d+)/ for tenant`)[1]
	err := waitDone(t, done)
	var status exitStatus
	if !errors.As(err, &status) || status != 3 {
		t.Errorf("run: %v, want exit status 3", err)
	}
	if !strings.HasSuffix(out.String(), "fakeapp: port 5000 is in use\n") {
		t.Errorf("output does not end with the app's message:\n%s", out.String())
	}
	if listening(addr) {
		t.Error("the stand-in still listens")
	}
}

// When the stand-in's port is taken, the app is not started.
func TestBusyPortStartsNoCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	args := []string{"--addr", ln.Addr().String(), "--config", writeTestConfig(t), "--state-dir", filepath.Join(t.TempDir(), "state"), "--", os.Args[0], "fakeapp", "serve"}
	var out syncBuffer
	err = run(context.Background(), args, &out, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "port "+port+" is in use") {
		t.Errorf("run: %v", err)
	}
	if strings.Contains(out.String(), "fakeapp") {
		t.Errorf("the app was started:\n%s", out.String())
	}
}

// main exits with the app's status and prints nothing of its own.
func TestMainExitsWithCommandStatus(t *testing.T) {
	if os.Getenv("DEVIDP_TEST_MAIN") == "1" {
		t.Skip("the subprocess of another test")
	}
	args := []string{"--addr", "127.0.0.1:0", "--config", writeTestConfig(t), "--state-dir", filepath.Join(t.TempDir(), "state"), "--", os.Args[0], "fakeapp", "fail"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPortInUse$")
	cmd.Env = append(os.Environ(), "DEVIDP_TEST_MAIN=1", "DEVIDP_TEST_ARGS="+strings.Join(args, " "))
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	// The state directory's creation is logged first; then only the app.
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.Contains(l, " level=INFO msg=\"created ") && !strings.Contains(l, " level=INFO msg=\"issued ") {
			t.Errorf("stderr has %q", l)
		}
	}
	if last := lines[len(lines)-1]; last != "fakeapp: port 5000 is in use" {
		t.Errorf("stderr ends with %q, want the app's message", last)
	}
}
