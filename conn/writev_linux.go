package conn

import (
	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
)

// iovMax is the most iovecs one writev takes (IOV_MAX on Linux).
const iovMax = 1024

// writev writes parts with one writev(2) call, filling the caller's iovec
// array so that nothing is allocated. Empty parts are skipped. It returns the
// bytes written.
//
// The iovecs point into Go memory for the duration of the system call only;
// the slices stay reachable through parts, so the collector keeps them (and,
// with a non-moving collector, at the same address) until the call returns.
func writev(fd int, parts []wpart, iovs *[iovMax]unix.Iovec) (int, error) {
	n := 0
	for i := range parts {
		if n == iovMax {
			break
		}
		b := parts[i].b
		if len(b) == 0 {
			continue
		}
		iovs[n].Base = &b[0]
		iovs[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	for {
		r, err := fdio.Writev(fd, iovs[:n])
		if err == unix.EINTR {
			continue
		}
		for i := 0; i < n; i++ {
			iovs[i].Base = nil // do not keep buffers alive
		}
		return r, err
	}
}
