package cephtest

import (
	"errors"
	"os"
	"syscall"
)

// monProcAttr puts ceph-mon in a process group of its own and has the
// kernel SIGKILL it when the thread that started it ends (Pdeathsig, which
// only Linux has): see spawn.
func monProcAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}, nil
}

// lockFile takes an exclusive flock on f, waiting for any other holder.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// unlockFile drops the flock lockFile took.
func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
