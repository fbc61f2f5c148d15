package conn

import (
	"errors"
	"syscall"
)

// The socket layer: every system call conn makes on a socket goes through
// socket_linux.go (socket_other.go on other systems, where the event loop
// has no driver and NewMessenger fails before any socket is made).

var (
	// errWouldBlock: the socket has nothing to read, or no room to write;
	// an edge will come.
	errWouldBlock = errors.New("conn: would block")
	// errRefused is what a refused connect fails with (errors.Is matches
	// it).
	errRefused = syscall.ECONNREFUSED
)

// socket owns one connection's file descriptor: it is closed exactly once
// (Close), or given away (Release) when a lossless session moves it to
// another connection. The zero socket is no socket: use noSocket.
type socket struct{ fd int }

// noSocket is a socket that holds no descriptor.
var noSocket = socket{fd: -1}

// open reports whether s holds a descriptor.
func (s socket) open() bool { return s.fd >= 0 }

// Close shuts the descriptor down and closes it, once. Shut down first:
// with io_uring the driver's poll request holds a reference to the file
// until its removal is processed, and the last reference may be dropped
// late on another thread; shutdown sends the FIN now regardless. Errors
// are of a socket being given up (already reset by the peer): there is
// nothing to do about them.
func (s *socket) Close() {
	if s.fd < 0 {
		return
	}
	shutdownFD(s.fd)
	closeFD(s.fd)
	s.fd = -1
}

// Release gives the descriptor up without closing it and returns it.
func (s *socket) Release() int {
	fd := s.fd
	s.fd = -1
	return fd
}
