package framing

import (
	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
)

// Iovecs is a connection owner's iovec array for Writev, reused so that a
// write allocates nothing (x/sys's Writev allocates past 8 buffers).
type Iovecs [MaxIovecs]unix.Iovec

// Writev writes the pending buffers to fd with one writev(2), retrying
// EINTR, and returns the bytes written (Advance them). Empty buffers are
// skipped. The iovecs point into Go memory for the call only: the buffers
// stay reachable through the Writer, and the iovecs are cleared after, so
// that they keep nothing alive.
func (w *Writer) Writev(fd int, iovs *Iovecs) (int, error) {
	n := 0
	for i := range w.parts {
		if n == MaxIovecs {
			break
		}
		b := w.parts[i].b
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
		clear(iovs[:n])
		return r, err
	}
}
