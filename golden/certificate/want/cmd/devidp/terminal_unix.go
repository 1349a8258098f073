//go:build linux || darwin

package main

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

// takeTerminal moves devidp into a process group of its own and makes it
// the terminal's foreground group, so that Ctrl-C interrupts devidp and
// the app it starts, and not the program that started devidp. Under make,
// Ctrl-C would otherwise reach make too, which then exits with status 130
// (or, with a shell in between, "Segmentation fault" and 143) whatever its
// recipe did. Ctrl-Z is ignored meanwhile: the shell, which waits for
// make, could not resume a group it does not know.
//
// It does nothing unless devidp is in the terminal's foreground group and
// not already its leader (started by an interactive shell directly).
func takeTerminal() (restore func()) {
	noop := func() {}
	fd := int(os.Stdin.Fd())
	fg, err := tcgetpgrp(fd)
	if err != nil || fg != syscall.Getpgrp() || syscall.Getpgrp() == syscall.Getpid() {
		return noop
	}
	// A background group may not change the foreground group without
	// SIGTTOU stopping it; these stay ignored for the app too.
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN, syscall.SIGTSTP)
	if err := syscall.Setpgid(0, 0); err != nil {
		return noop
	}
	if err := tcsetpgrp(fd, syscall.Getpid()); err != nil {
		syscall.Setpgid(0, fg)
		return noop
	}
	return func() { tcsetpgrp(fd, fg) }
}

func tcgetpgrp(fd int) (int, error) {
	var pgid int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCGPGRP), uintptr(unsafe.Pointer(&pgid))); errno != 0 {
		return 0, errno
	}
	return int(pgid), nil
}

func tcsetpgrp(fd, pgid int) error {
	p := int32(pgid)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCSPGRP), uintptr(unsafe.Pointer(&p))); errno != 0 {
		return errno
	}
	return nil
}
