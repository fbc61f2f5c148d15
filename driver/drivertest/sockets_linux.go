package drivertest

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

var loopback = [4]byte{127, 0, 0, 1}

// tcpSocket opens a non-blocking, close-on-exec IPv4 stream socket.
func (h *harness) tcpSocket() int {
	h.t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		h.t.Fatalf("socket: %v", err)
	}
	return h.track(fd)
}

// port returns the local port fd is bound to.
func (h *harness) port(fd int) int {
	h.t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		h.t.Fatalf("getsockname(%d): %v", fd, err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// listen opens a listening socket on 127.0.0.1 and an ephemeral port.
func (h *harness) listen() (fd, port int) {
	h.t.Helper()
	fd = h.tcpSocket()
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback}); err != nil {
		h.t.Fatalf("bind 127.0.0.1:0: %v", err)
	}
	if err := unix.Listen(fd, 512); err != nil {
		h.t.Fatalf("listen: %v", err)
	}
	return fd, h.port(fd)
}

// connect starts a non-blocking connect to 127.0.0.1:port. It returns the
// socket and connect's error with EINPROGRESS mapped to nil.
func (h *harness) connect(port int) (int, error) {
	h.t.Helper()
	fd := h.tcpSocket()
	err := unix.Connect(fd, &unix.SockaddrInet4{Addr: loopback, Port: port})
	if errors.Is(err, unix.EINPROGRESS) {
		err = nil
	}
	return fd, err
}

// pollFd waits with poll(2), not the driver under test, until fd has one of
// events; it is for setting up a case, not for checking the driver.
func (h *harness) pollFd(fd int, events int16, what string) {
	h.t.Helper()
	deadline := time.Now().Add(fireTimeout)
	for time.Now().Before(deadline) {
		p := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(p, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			h.t.Fatalf("%s: poll: %v", what, err)
		}
		if n > 0 {
			return
		}
	}
	h.t.Fatalf("%s: fd %d not ready (poll events %#x) within %v", what, fd, events, fireTimeout)
}

// accept takes one pending connection off lfd, waiting (with poll) for it.
func (h *harness) accept(lfd int) int {
	h.t.Helper()
	for {
		nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == nil {
			return h.track(nfd)
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			h.t.Fatalf("accept4: %v", err)
		}
		h.pollFd(lfd, unix.POLLIN, "accept")
	}
}

// pair returns a connected TCP pair over 127.0.0.1 (client, server side),
// both non-blocking, the connect completed.
func (h *harness) pair() (client, server int) {
	h.t.Helper()
	lfd, port := h.listen()
	client, err := h.connect(port)
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	server = h.accept(lfd)
	h.pollFd(client, unix.POLLOUT, "connect")
	if e := soError(h, client); e != nil {
		h.t.Fatalf("connect: SO_ERROR %v", e)
	}
	h.closeFd(lfd)
	return client, server
}

func soError(h *harness, fd int) error {
	h.t.Helper()
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		h.t.Fatalf("getsockopt SO_ERROR: %v", err)
	}
	if v == 0 {
		return nil
	}
	return unix.Errno(v)
}

// pipe returns a non-blocking pipe (read end, write end).
func (h *harness) pipe() (r, w int) {
	h.t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		h.t.Fatalf("pipe2: %v", err)
	}
	return h.track(p[0]), h.track(p[1])
}

// eventfd returns a non-blocking eventfd.
func (h *harness) eventfd() int {
	h.t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		h.t.Fatalf("eventfd: %v", err)
	}
	return h.track(fd)
}

// write writes all of p to fd, which must not block.
func (h *harness) write(fd int, p []byte) {
	h.t.Helper()
	n, err := unix.Write(fd, p)
	if err != nil || n != len(p) {
		h.t.Fatalf("write(fd %d, %d bytes) = %d, %v", fd, len(p), n, err)
	}
}

// drain reads fd until EAGAIN and returns how many bytes came (-1 on EOF
// with nothing read).
func (h *harness) drain(fd int) int {
	h.t.Helper()
	var buf [4096]byte
	total := 0
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return total
		case errors.Is(err, unix.EINTR):
		case err != nil:
			h.t.Fatalf("read(fd %d): %v", fd, err)
		case n == 0:
			if total == 0 {
				return -1
			}
			return total
		default:
			total += n
		}
	}
}

// writeEventfd adds 1 to an eventfd's counter.
func writeEventfd(fd int) error {
	var b [8]byte
	b[0] = 1
	_, err := unix.Write(fd, b[:])
	return err
}
