package echo

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/gomsgr/gomsgr/center"
)

// Server is a TCP echo server on the event loop. The listening socket lives
// on worker 0; each accepted socket is handed to the least-loaded worker and
// served there: read until EAGAIN, write back, keep what the kernel did not
// take and wait for WRITABLE only while bytes are pending. It needs Linux,
// as center does: elsewhere NewServer fails with an error wrapping
// errors.ErrUnsupported.
type Server struct {
	stack  *center.Stack
	lfd    int
	lw     *center.Worker
	addr   netip.AddrPort
	shared map[*center.Worker][]byte // per worker, with ServerOptions.SharedReadBuffer

	mu    sync.Mutex
	conns map[*conn]struct{}
}

type conn struct {
	fd      int
	w       *center.Worker
	buf     []byte // read buffer: its own, or its worker's shared one
	shared  bool   // buf is the worker's: pending must be copied out of it
	pending []byte // bytes read but not yet written back
	spare   []byte // pending's backing array when buf is shared, kept for reuse
	closed  bool
}

// BufBytes is the read buffer size: each connection's, or each worker's
// with ServerOptions.SharedReadBuffer.
const BufBytes = 64 << 10

// ServerOptions choose how a Server spends memory.
type ServerOptions struct {
	// SharedReadBuffer reads every connection of a worker into one
	// buffer of the worker's (a worker runs one handler at a time) and
	// copies out only the part of a reply the kernel did not take, so an
	// idle connection holds no buffer: what gnet, netpoll and nbio do.
	// Off, each connection has a BufBytes buffer of its own.
	SharedReadBuffer bool
	// Backlog is the listen queue length (default 512).
	Backlog int
}

// NewServer listens on addr ("127.0.0.1:0" for a free port) and serves on a
// new stack configured by cfg, with a read buffer per connection.
func NewServer(addr string, cfg center.StackConfig) (*Server, error) {
	return NewServerWith(addr, cfg, ServerOptions{})
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.addr.String() }

// StdServer is the standard library's model: a net.Listener and one
// goroutine per connection doing blocking reads and writes.
type StdServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewStdServer listens on addr and serves until Close.
func NewStdServer(addr string) (*StdServer, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	s := &StdServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *StdServer) Addr() string { return s.ln.Addr().String() }

func (s *StdServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, BufBytes)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = c.Close() // the peer left, or Close closed it first: nothing to report
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for the
// goroutines.
func (s *StdServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close() // only to unblock its goroutine, which may have closed it already
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
