package conn

import (
	"fmt"
	"io"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
	"github.com/gomsgr/gomsgr/internal/framing"
)

// iovecs is a worker's iovec array for writev.
type iovecs = framing.Iovecs

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func family(ap netip.AddrPort) int {
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// dialSocket opens a non-blocking socket and starts connecting it to ap;
// the connect completes (or fails: connectError) with a writable edge.
func dialSocket(ap netip.AddrPort) (socket, error) {
	fd, err := unix.Socket(family(ap), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return noSocket, fmt.Errorf("conn: socket: %w", err)
	}
	s := socket{fd: fd}
	err = unix.Connect(fd, sockaddr(ap))
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		s.Close()
		return noSocket, fmt.Errorf("conn: connect %v: %w", ap, err)
	}
	return s, nil
}

// connectError returns the outcome of a non-blocking connect on fd.
func connectError(fd int) error {
	errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = unix.Errno(errno)
	}
	return err
}

// tuneSocket sets TCP_NODELAY (unless disabled) and SO_RCVBUF (when
// positive). Best effort, as Ceph's set_nodelay: a socket without them
// still works.
func tuneSocket(fd int, noDelay bool, rcvBuf int) {
	if noDelay {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if rcvBuf > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
}

// readSocket reads into b: n > 0, or errWouldBlock, io.EOF or the error.
func readSocket(fd int, b []byte) (int, error) {
	for {
		n, err := fdio.Read(fd, b)
		switch {
		case n > 0:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errWouldBlock
		case err == nil:
			return 0, io.EOF
		}
		return 0, err
	}
}

// writeSocket writes w's pending buffers with one writev: the bytes
// written, or errWouldBlock, or the error.
func writeSocket(fd int, w *framing.Writer, iovs *iovecs) (int, error) {
	n, err := w.Writev(fd, iovs)
	if err == unix.EAGAIN {
		return 0, errWouldBlock
	}
	return n, err
}

// writeNow writes b without waiting; what the socket does not take is
// dropped (a failing connection's last words).
func writeNow(fd int, b []byte) { _, _ = unix.Write(fd, b) }

// shutdownFD shuts fd down both ways: the next read or write on it fails.
func shutdownFD(fd int) { _ = unix.Shutdown(fd, unix.SHUT_RDWR) }

func closeFD(fd int) { _ = unix.Close(fd) }

// listenSocket binds and listens on ap (SO_REUSEADDR) and returns the
// socket with the address it bound.
func listenSocket(ap netip.AddrPort, backlog int) (socket, netip.AddrPort, error) {
	fd, err := unix.Socket(family(ap), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return noSocket, ap, fmt.Errorf("conn: socket: %w", err)
	}
	s := socket{fd: fd}
	fail := func(err error) (socket, netip.AddrPort, error) {
		closeFD(s.Release()) // never listened: nothing to shut down
		return noSocket, ap, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail(fmt.Errorf("conn: SO_REUSEADDR: %w", err))
	}
	if err := unix.Bind(fd, sockaddr(ap)); err != nil {
		return fail(fmt.Errorf("conn: bind %v: %w", ap, err))
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail(fmt.Errorf("conn: listen %v: %w", ap, err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(fmt.Errorf("conn: getsockname: %w", err))
	}
	return s, addrPort(sa), nil
}

// acceptResult classifies a failed accept.
type acceptResult int

const (
	acceptRetry   acceptResult = iota // interrupted, or the peer gave up: accept again
	acceptDrained                     // nothing left to accept
	acceptStarved                     // out of descriptors or memory: pause
	acceptFailed                      // anything else: log, wait for the next edge
)

// acceptSocket accepts one connection from the listening fd.
func acceptSocket(fd int) (socket, netip.AddrPort, acceptResult, error) {
	nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	switch err {
	case nil:
		return socket{fd: nfd}, addrPort(sa), 0, nil
	case unix.EINTR, unix.ECONNABORTED:
		return noSocket, netip.AddrPort{}, acceptRetry, err
	case unix.EAGAIN:
		return noSocket, netip.AddrPort{}, acceptDrained, err
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return noSocket, netip.AddrPort{}, acceptStarved, err
	}
	return noSocket, netip.AddrPort{}, acceptFailed, err
}
