package echo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/fdio"
)

// NewServerWith is NewServer with options.
func NewServerWith(addr string, cfg center.StackConfig, opts ServerOptions) (*Server, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	ip := ta.AddrPort().Addr().Unmap()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified() // ":port": every address
	}
	if !ip.Is4() {
		return nil, fmt.Errorf("echo: %s is not an IPv4 address", addr)
	}
	ap := netip.AddrPortFrom(ip, uint16(ta.Port))
	if opts.Backlog <= 0 {
		opts.Backlog = 512
	}
	lfd, bound, err := listen(ap, opts.Backlog)
	if err != nil {
		return nil, err
	}
	stack, err := center.NewStack(cfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("echo: %w", err), unix.Close(lfd))
	}
	s := &Server{stack: stack, lfd: lfd, addr: bound, conns: map[*conn]struct{}{}}
	s.lw = stack.Workers()[0]
	if opts.SharedReadBuffer {
		s.shared = map[*center.Worker][]byte{}
		for _, w := range stack.Workers() {
			s.shared[w] = make([]byte, BufBytes)
		}
	}
	err = s.lw.Center().SubmitWait(context.Background(), func() {
		err = s.lw.Center().AddFile(lfd, driver.Readable, s.accept)
	})
	if err != nil {
		return nil, errors.Join(err, s.Close(context.Background()))
	}
	return s, nil
}

func listen(ap netip.AddrPort, backlog int) (int, netip.AddrPort, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, ap, fmt.Errorf("echo: socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return -1, ap, errors.Join(fmt.Errorf("echo: setsockopt SO_REUSEADDR: %w", err), unix.Close(fd))
	}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if err := unix.Bind(fd, sa); err != nil {
		return -1, ap, errors.Join(fmt.Errorf("echo: bind %s: %w", ap, err), unix.Close(fd))
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return -1, ap, errors.Join(fmt.Errorf("echo: listen: %w", err), unix.Close(fd))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return -1, ap, errors.Join(fmt.Errorf("echo: getsockname: %w", err), unix.Close(fd))
	}
	in := got.(*unix.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)), nil
}

// accept runs on worker 0: accept until EAGAIN, hand each socket to the
// least-loaded worker.
func (s *Server) accept(fd int, _ driver.Mask) {
	for {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			return // EAGAIN, or EMFILE and friends: wait for the next edge
		}
		// Latency only: the echo is correct without it, and a fresh TCP
		// socket does not refuse it.
		_ = unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		w := s.stack.Pick()
		c := &conn{fd: nfd, w: w}
		if buf, ok := s.shared[w]; ok {
			c.buf, c.shared = buf, true
		} else {
			c.buf = make([]byte, BufBytes)
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		err = w.Center().Submit(func() {
			if err := w.Center().AddFile(nfd, driver.Readable, func(_ int, m driver.Mask) { s.handle(c, m) }); err != nil {
				s.drop(c)
				return
			}
			s.handle(c, driver.Readable) // data may have arrived before the add
		})
		if err != nil {
			s.abandon(c) // the worker is closed: Close is under way
		}
	}
}

// abandon closes a connection that never reached its worker (no file
// event was added for it), on the accepting goroutine.
func (s *Server) abandon(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.closed = true
	_ = unix.Close(c.fd) // never served: there is no one to tell
	c.w.Release()
}

// handle serves one readiness event of c on its worker.
func (s *Server) handle(c *conn, m driver.Mask) {
	if c.closed {
		return
	}
	if m&driver.Writable != 0 && len(c.pending) > 0 {
		if !s.flush(c, c.pending) {
			return
		}
	}
	if len(c.pending) > 0 {
		return // still blocked on writing: leave input in the kernel (flow control)
	}
	for {
		n, err := fdio.Read(c.fd, c.buf)
		if n > 0 {
			if !s.flush(c, c.buf[:n]) || len(c.pending) > 0 {
				return
			}
			if n < len(c.buf) {
				// A short read drained the socket: new data will fire a
				// new edge, so the EAGAIN read can be saved.
				return
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		s.drop(c) // EOF or error
		return
	}
}

// flush writes b (just read, or c.pending); what the kernel does not take
// stays in c.pending, copied out of a shared read buffer. It reports false
// when the connection was dropped.
func (s *Server) flush(c *conn, b []byte) bool {
	for len(b) > 0 {
		n, err := fdio.Write(c.fd, b)
		if n > 0 {
			b = b[n:]
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if c.shared && (len(c.pending) == 0 || &c.pending[0] != &b[0]) {
				c.spare = append(c.spare[:0], b...)
				b = c.spare
			}
			c.pending = b
			if c.w.Center().FileMask(c.fd)&driver.Writable == 0 {
				if err := c.w.Center().AddFile(c.fd, driver.Writable, func(_ int, m driver.Mask) { s.handle(c, m) }); err != nil {
					s.drop(c) // no WRITABLE event would ever send the rest
					return false
				}
			}
			return true
		}
		s.drop(c)
		return false
	}
	c.pending = nil
	if c.w.Center().FileMask(c.fd)&driver.Writable != 0 {
		if err := c.w.Center().DelFile(c.fd, driver.Writable); err != nil {
			s.drop(c) // the driver failed on this fd: treat it as a failed connection
			return false
		}
	}
	return true
}

func (s *Server) drop(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	// Teardown of a connection that ended or failed: these errors have no
	// one to go to.
	_ = c.w.Center().DelFile(c.fd, driver.ReadWrite)
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR) // FIN now, even while io_uring still holds the file
	_ = unix.Close(c.fd)
	c.w.Release()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close closes the listener and every connection, then stops the stack.
func (s *Server) Close(ctx context.Context) error {
	var errs []error
	for _, w := range s.stack.Workers() {
		w := w
		var lerr error // the listener's; read only once fn has run
		err := w.Center().SubmitWait(ctx, func() {
			if w == s.lw {
				lerr = errors.Join(w.Center().DelFile(s.lfd, driver.Readable), unix.Close(s.lfd))
			}
			s.mu.Lock()
			var mine []*conn
			for c := range s.conns {
				if c.w == w {
					mine = append(mine, c)
				}
			}
			s.mu.Unlock()
			for _, c := range mine {
				s.drop(c)
			}
		})
		if err == nil {
			err = lerr
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.stack.Stop(ctx))
	return errors.Join(errs...)
}
