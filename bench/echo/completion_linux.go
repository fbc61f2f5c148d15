package echo

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver/uring"
)

// cconn is one connection of the completion server.
type cconn struct {
	fd      int
	gen     uint32
	queue   []pendingSend // received buffers to send back, in order
	sending int           // queue[:sending] is being sent, with one sendmsg
	msg     unix.Msghdr   // that sendmsg's header and iovecs, kept until it completes
	iovs    [64]unix.Iovec
	eof     bool // the receive ended: close once the queue is sent
	starved bool // the receive ran out of buffers: arm it again
}

type pendingSend struct {
	bid  uint16
	data []byte
}

// NewCompletionServer listens on addr (host:port, IPv4) and serves until
// Close. It returns the uring package's *driver.UnsupportedError when the
// kernel lacks completion mode.
func NewCompletionServer(addr string, opts CompletionOptions) (*CompletionServer, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	lf, err := ln.(*net.TCPListener).File() // a dup: its own blocking fd
	if err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	s := &CompletionServer{ln: ln.(*net.TCPListener), lf: lf, addr: ln.Addr().String(), done: make(chan error, 1)}
	ready := make(chan error, 1)
	go s.loop(opts, ready)
	if err := <-ready; err != nil {
		return nil, errors.Join(err, lf.Close(), ln.Close())
	}
	return s, nil
}

func (s *CompletionServer) loop(opts CompletionOptions, ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := uring.NewCompletion(uring.CompletionOptions{
		Entries: 1024, Buffers: opts.Buffers, BufferSize: opts.BufferSize,
		Ring: uring.Options{CoopTaskrun: true},
	})
	if err != nil {
		ready <- err
		return
	}
	const listenTag = 1<<56 - 1
	if err := c.Accept(int(s.lf.Fd()), listenTag); err != nil {
		_ = c.Close() // its accept was the completion; nothing was sent
		ready <- err
		return
	}
	ready <- nil
	var conns []*cconn // by fd
	var gen uint32
	var starved []*cconn
	tag := func(cc *cconn) uint64 { return uint64(cc.gen)<<32 | uint64(cc.fd) }
	lookup := func(t uint64) *cconn {
		fd := int(t & 0xffffffff)
		if fd < len(conns) && conns[fd] != nil && conns[fd].gen == uint32(t>>32) {
			return conns[fd]
		}
		return nil
	}
	closeConn := func(cc *cconn) {
		for _, p := range cc.queue {
			c.ReleaseBuffer(p.bid)
		}
		cc.queue = nil
		conns[cc.fd] = nil
		// The connection ended or failed: these errors have no one to go to.
		_ = unix.Shutdown(cc.fd, unix.SHUT_RDWR)
		_ = unix.Close(cc.fd)
	}
	// recv arms cc's multishot receive; a connection that cannot receive
	// can only end.
	recv := func(cc *cconn) {
		if err := c.Recv(cc.fd, tag(cc)); err != nil {
			cc.eof = true
			if cc.sending == 0 {
				closeConn(cc)
			}
		}
	}
	// sendNext sends everything queued (up to 64 buffers) with one
	// sendmsg: one send in flight per connection keeps the bytes in order.
	sendNext := func(cc *cconn) {
		if cc.sending > 0 || len(cc.queue) == 0 {
			return
		}
		k := min(len(cc.queue), len(cc.iovs))
		for i := 0; i < k; i++ {
			cc.iovs[i].Base = &cc.queue[i].data[0]
			cc.iovs[i].SetLen(len(cc.queue[i].data))
		}
		cc.msg = unix.Msghdr{Iov: &cc.iovs[0]}
		cc.msg.SetIovlen(k)
		if err := c.SendMsg(cc.fd, &cc.msg, tag(cc)); err != nil {
			cc.eof = true
			return
		}
		cc.sending = k
	}
	out := make([]uring.Completed, 256)
	var loopErr error
	var spinUntil time.Time
	for loopErr == nil && !s.stop.Load() {
		// Poll for 50 µs after the last completion before blocking, as
		// center's workers spin: on few cores a thread wake-up costs more
		// than a message.
		wait := time.Duration(-1) // until a completion: an idle loop never wakes
		if time.Now().Before(spinUntil) {
			wait = 0
		}
		n, err := c.Wait(out, wait)
		if err != nil {
			loopErr = err
			break
		}
		if n > 0 {
			spinUntil = time.Now().Add(50 * time.Microsecond)
		}
		for i := 0; i < n; i++ {
			r := &out[i]
			switch r.Op {
			case uring.OpAccept:
				if !r.More && !s.stop.Load() {
					if err := c.Accept(int(s.lf.Fd()), listenTag); err != nil {
						loopErr = fmt.Errorf("echo: completion server: accept again: %w", err) // ends the loop
					}
				}
				if r.Res < 0 {
					continue
				}
				fd := int(r.Res)
				// Latency only: the echo is correct without it, and a fresh
				// TCP socket does not refuse it.
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				for fd >= len(conns) {
					conns = append(conns, nil)
				}
				gen++
				cc := &cconn{fd: fd, gen: gen}
				conns[fd] = cc
				recv(cc)
			case uring.OpRecv:
				cc := lookup(r.Tag)
				if cc == nil {
					c.Release(r) // a completion for a connection already closed
					continue
				}
				switch {
				case r.Res > 0:
					bid, _ := r.Buffer()
					cc.queue = append(cc.queue, pendingSend{bid: bid, data: r.Data})
					sendNext(cc)
					if !r.More {
						recv(cc)
					}
				case r.Res == -int32(unix.ENOBUFS):
					cc.starved = true
					starved = append(starved, cc)
				default: // end of file or an error
					cc.eof = true
					if cc.sending == 0 {
						closeConn(cc)
					}
				}
			case uring.OpSend:
				cc := lookup(r.Tag)
				if cc == nil {
					continue
				}
				for i := 0; i < cc.sending; i++ {
					c.ReleaseBuffer(cc.queue[i].bid)
					cc.queue[i] = pendingSend{}
				}
				rest := copy(cc.queue, cc.queue[cc.sending:])
				cc.queue = cc.queue[:rest]
				cc.sending = 0
				if r.Res < 0 {
					cc.eof = true
				}
				if cc.eof {
					closeConn(cc)
					continue
				}
				sendNext(cc)
			}
		}
		// Connections whose receive ran dry: buffers came back above.
		for _, cc := range starved {
			if cc.starved && conns[cc.fd] == cc {
				cc.starved = false
				recv(cc)
			}
		}
		starved = starved[:0]
	}
	// End the multishot accept (accept fails on a shut-down listener) and
	// close what it still accepted; the ring's teardown would leak them.
	// Should the shutdown fail, the drain below ends at its deadline.
	_ = unix.Shutdown(int(s.lf.Fd()), unix.SHUT_RDWR)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		n, err := c.Wait(out, 10*time.Millisecond)
		if err != nil {
			break
		}
		ended := false
		for i := 0; i < n; i++ {
			r := &out[i]
			switch {
			case r.Op == uring.OpAccept && r.Res >= 0:
				_ = unix.Close(int(r.Res)) // accepted while stopping, never served
			case r.Op == uring.OpRecv:
				c.Release(r)
			}
			if r.Op == uring.OpAccept && !r.More {
				ended = true
			}
		}
		if ended {
			break
		}
	}
	for _, cc := range conns {
		if cc != nil {
			closeConn(cc)
		}
	}
	if err := c.Close(); err != nil && loopErr == nil {
		loopErr = err
	}
	s.done <- loopErr
}
