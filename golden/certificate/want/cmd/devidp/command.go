package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// foreground, when set (by main, not by tests), is called before the
// command starts; see takeTerminal. The function it returns undoes it.
var foreground func() (restore func())

// command is the program devidp runs (the app).
type command struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // cmd.Wait's, once done
	// restore gives the terminal back (see foreground) once devidp is
	// done too.
	restore func()
}

// startCommand starts args with APP_ENV=Development and devidp's output.
func startCommand(args []string, stdout, stderr io.Writer) (*command, error) {
	c := &command{cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{}), restore: func() {}}
	c.cmd.Env = append(withoutVar(os.Environ(), "APP_ENV"), "APP_ENV=Development")
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	if foreground != nil {
		c.restore = foreground()
	}
	if err := c.cmd.Start(); err != nil {
		c.restore()
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop asks the command to stop (an interrupt; Windows has none, so a
// kill there) and waits for it, killing it after grace.
func (c *command) stop(grace time.Duration) {
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	c.cmd.Process.Kill()
	<-c.done
}

// status is nil when the command exited with status 0, its exit status
// when it failed (it said why), or what else happened to it.
func (c *command) status() error {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && ee.ExitCode() > 0 {
		return exitStatus(ee.ExitCode())
	}
	if c.err != nil {
		return errors.New(strings.Join(c.cmd.Args, " ") + ": " + c.err.Error())
	}
	return nil
}

// withoutVar returns env without the variable name.
func withoutVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			out = append(out, kv)
		}
	}
	return out
}
