//go:build unix

package main

import (
	"os"
	"syscall"
)

// sysProcAttr puts a child in its own process group, so that a Ctrl-C in
// the terminal reaches only the benchmark, which then stops the children
// (and their children) itself.
func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(a)
	return a
}

// signalGroup signals p's process group (p is its leader).
func signalGroup(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		p.Signal(sig)
	}
}
