package center

import "golang.org/x/sys/unix"

// pollFd is poll(2)'s struct pollfd.
type pollFd = unix.PollFd

const pollIn = unix.POLLIN

// pollNow polls fds without waiting and reports whether any has an event
// (in its Revents).
func pollNow(fds []pollFd) bool {
	for {
		n, err := unix.Poll(fds, 0)
		if err != unix.EINTR {
			return n > 0
		}
	}
}
