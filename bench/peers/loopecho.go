package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/fdio"
)

// readBytes is the read buffer of each event-loop worker (shared by its
// connections, since a worker runs one handler at a time) and of each
// standard-library connection.
const readBytes = 64 << 10

// loopServer is a byte echo on a gomsgr center.Stack. Unlike bench/echo's
// Server, which gives every connection a 64 KiB buffer of its own, a
// connection here owns memory only while the kernel refused part of a reply:
// reads go into the worker's buffer, and only what a write left over is
// copied out. That is what gnet, netpoll and nbio do too.
type loopServer struct {
	stack *center.Stack
	lfd   int
	lw    *center.Worker
	addr  string
	bufs  map[*center.Worker][]byte

	mu    sync.Mutex
	conns map[*loopConn]struct{}
}

type loopConn struct {
	fd      int
	w       *center.Worker
	pending []byte // reply bytes the kernel did not take yet
	spare   []byte // pending's backing array, kept for reuse
	closed  bool
}

func newLoopServer(addr string, cfg center.Config) (*loopServer, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := unix.Bind(lfd, sa); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("listen: %w", err)
	}
	got, err := unix.Getsockname(lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, err
	}
	in := got.(*unix.SockaddrInet4)
	stack, err := center.NewStack(center.StackConfig{Name: "peers-echo", Center: cfg})
	if err != nil {
		unix.Close(lfd)
		return nil, err
	}
	s := &loopServer{stack: stack, lfd: lfd, lw: stack.Workers()[0], conns: map[*loopConn]struct{}{},
		addr: fmt.Sprintf("%d.%d.%d.%d:%d", in.Addr[0], in.Addr[1], in.Addr[2], in.Addr[3], in.Port),
		bufs: map[*center.Worker][]byte{}}
	for _, w := range stack.Workers() {
		s.bufs[w] = make([]byte, readBytes)
	}
	err = s.lw.Center().SubmitWait(context.Background(), func() {
		err = s.lw.Center().AddFile(lfd, driver.Readable, s.accept)
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *loopServer) Addr() string { return s.addr }

func (s *loopServer) accept(fd int, _ driver.Mask) {
	for {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			return
		}
		unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		w := s.stack.Pick()
		c := &loopConn{fd: nfd, w: w}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		w.Center().Submit(func() {
			if err := w.Center().AddFile(nfd, driver.Readable, func(_ int, m driver.Mask) { s.handle(c, m) }); err != nil {
				s.drop(c)
				return
			}
			s.handle(c, driver.Readable)
		})
	}
}

func (s *loopServer) handle(c *loopConn, m driver.Mask) {
	if c.closed {
		return
	}
	if m&driver.Writable != 0 && len(c.pending) > 0 {
		if !s.flush(c, c.pending) {
			return
		}
	}
	if len(c.pending) > 0 {
		return // blocked on writing: leave input in the kernel
	}
	buf := s.bufs[c.w]
	for {
		n, err := fdio.Read(c.fd, buf)
		if n > 0 {
			if !s.flush(c, buf[:n]) || len(c.pending) > 0 {
				return
			}
			if n < len(buf) {
				return // drained: the next data fires a new edge
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		s.drop(c)
		return
	}
}

// flush writes b (the worker's buffer or c.pending); what the kernel does
// not take is kept in c.pending. It reports false when c was dropped.
func (s *loopServer) flush(c *loopConn, b []byte) bool {
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
			if len(c.pending) == 0 || &c.pending[0] != &b[0] {
				c.spare = append(c.spare[:0], b...)
				b = c.spare
			}
			c.pending = b
			if c.w.Center().FileMask(c.fd)&driver.Writable == 0 {
				c.w.Center().AddFile(c.fd, driver.Writable, func(_ int, m driver.Mask) { s.handle(c, m) })
			}
			return true
		}
		s.drop(c)
		return false
	}
	c.pending = nil
	if c.w.Center().FileMask(c.fd)&driver.Writable != 0 {
		c.w.Center().DelFile(c.fd, driver.Writable)
	}
	return true
}

func (s *loopServer) drop(c *loopConn) {
	if c.closed {
		return
	}
	c.closed = true
	c.w.Center().DelFile(c.fd, driver.ReadWrite)
	unix.Shutdown(c.fd, unix.SHUT_RDWR)
	unix.Close(c.fd)
	c.w.Release()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *loopServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*1e9)
	defer cancel()
	var errs []error
	for _, w := range s.stack.Workers() {
		err := w.Center().SubmitWait(ctx, func() {
			if w == s.lw {
				w.Center().DelFile(s.lfd, driver.Readable)
				unix.Close(s.lfd)
			}
			s.mu.Lock()
			var mine []*loopConn
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
		if err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.stack.Stop(ctx))
	return errors.Join(errs...)
}
