package center

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
)

// The system calls of the wake-up eventfd and of the parker's duplicate of
// the driver fd. The eventfd calls are made raw through package fdio: the
// fd is non-blocking, so they keep the P.

// newWakeFd returns a non-blocking, close-on-exec eventfd.
func newWakeFd() (int, error) {
	return unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
}

// closeFd closes an fd of the center's own.
func closeFd(fd int) error { return unix.Close(fd) }

// wakeBytes is the eventfd increment (a native-endian uint64 of 1 on the
// little-endian machines we run on; any non-zero value wakes).
var wakeBytes = [8]byte{1}

// writeWake adds one to the eventfd's counter. A full counter (EAGAIN)
// already wakes the reader, and nothing else can fail on an open eventfd.
func writeWake(fd int) {
	for {
		if _, err := fdio.Write(fd, wakeBytes[:]); err != unix.EINTR {
			return
		}
	}
}

// drainWakeFd resets the eventfd's counter.
func drainWakeFd(fd int) {
	var buf [8]byte
	for {
		if _, err := fdio.Read(fd, buf[:]); err != unix.EINTR {
			return
		}
	}
}

// dupNonblock returns a close-on-exec duplicate of fd with O_NONBLOCK set
// on the shared file description, as the runtime poller needs (neither
// epoll_wait nor io_uring_enter looks at the flag).
func dupNonblock(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		if cerr := unix.Close(nfd); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close duplicate fd %d: %w", nfd, cerr))
		}
		return -1, err
	}
	return nfd, nil
}
