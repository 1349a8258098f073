//go:build unix

package pgtest

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// serverUser is who runs initdb and the server when the tests run as root
// (initdb refuses root): Debian's postgres user, or nobody.
var serverUser = func() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		}
	}
	return nil
}()

func asServerUser(cmd *exec.Cmd) {
	if serverUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: serverUser}
	}
}

// owned gives path to the server's user.
func owned(path string) error {
	if serverUser == nil {
		return nil
	}
	return os.Chown(path, int(serverUser.Uid), int(serverUser.Gid))
}
