package main

import "syscall"

// setDeathSignal asks Linux to kill the child if the benchmark dies without
// cleaning up (e.g. SIGKILL).
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
