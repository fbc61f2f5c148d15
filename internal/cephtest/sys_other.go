//go:build !linux

package cephtest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errNeedsLinux is why a mon cannot be run here: the package installs Ceph
// with apt-get and ties the mon's life to the test process with Pdeathsig.
var errNeedsLinux = fmt.Errorf("cephtest needs Linux (Pdeathsig, flock, Debian's ceph-mon): %w", errors.ErrUnsupported)

// monProcAttr fails: see errNeedsLinux.
func monProcAttr() (*syscall.SysProcAttr, error) { return nil, errNeedsLinux }

// lockFile fails: see errNeedsLinux.
func lockFile(f *os.File) error { return errNeedsLinux }

// unlockFile does nothing: lockFile never locks here.
func unlockFile(f *os.File) error { return nil }
