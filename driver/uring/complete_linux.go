package uring

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// The driver.Completer of a Driver opened with driver.Config.Completion:
// multishot receives into a provided-buffer ring (buffers_linux.go), one
// gathered send (sendmsg, or send for one buffer) in flight per fd, and
// cancellation by fd, in the same
// ring as the readiness polls. Their user_data carries the kind and the fd
// (kind | generation | fd, as the polls'; the generation is unused: the
// contract makes the caller wait for every final completion before the fd
// can be closed and its number reused).

const (
	kindRecv   = 4 // a multishot receive
	kindSend   = 5 // a send or sendmsg
	kindCancel = 6 // an ASYNC_CANCEL by fd: its own result is not reported

	opAsyncCancel = 14

	cancelAll = 1 << 0 // IORING_ASYNC_CANCEL_ALL
	cancelFd  = 1 << 1 // IORING_ASYNC_CANCEL_FD

	msgNoSignal = unix.MSG_NOSIGNAL // a send to a closed peer fails with EPIPE, no SIGPIPE

	defaultBuffers     = 128
	defaultBufferBytes = 64 << 10
)

// completerDriver is a Driver with the completion capability.
type completerDriver struct{ *Driver }

var (
	_ driver.Completer = completerDriver{}
	_ driver.Pollable  = pollableCompleter{}
)

// pollableCompleter is a completerDriver whose ring fd can be polled.
type pollableCompleter struct{ completerDriver }

// Fd returns the ring fd (see pollableDriver).
func (p pollableCompleter) Fd() int { return p.r.fd }

// compState is the completion-mode state of one fd. While a send is in
// flight its header and iovecs (Go pointers in this heap object) keep the
// caller's buffers alive: see msgAddr.
type compState struct {
	recv bool // a receive is armed
	send bool // a send is in flight
	msg  unix.Msghdr
	iov  []unix.Iovec
}

// setupCompletion maps the provided buffers and registers their ring.
func (d *Driver) setupCompletion(opts Options) error {
	n, size := opts.Buffers, opts.BufferBytes
	if n == 0 {
		n = defaultBuffers
	}
	if size <= 0 {
		size = defaultBufferBytes
	}
	if n&(n-1) != 0 || n > 1<<15 {
		return fmt.Errorf("uring: Buffers %d is not a power of two up to 32768", n)
	}
	d.bufs = new(bufRing)
	return d.bufs.setup(d.r, n, size)
}

// comp returns fd's completion state, growing the table.
func (d *Driver) comp(fd int) (*compState, error) {
	if fd < 0 || fd > 1<<31-1 {
		return nil, unix.EBADF
	}
	if fd >= len(d.comps) {
		comps := make([]*compState, max(2*len(d.comps), fd+1, 64))
		copy(comps, d.comps)
		d.comps = comps
	}
	if d.comps[fd] == nil {
		d.comps[fd] = &compState{}
	}
	return d.comps[fd], nil
}

// Recv implements driver.Completer.
func (d completerDriver) Recv(fd int) error {
	if d.r == nil {
		return fmt.Errorf("uring: recv fd %d: %w", fd, os.ErrClosed)
	}
	st, err := d.comp(fd)
	if err != nil {
		return fmt.Errorf("uring: recv fd %d: %w", fd, err)
	}
	if st.recv {
		return fmt.Errorf("uring: recv fd %d: %w", fd, driver.ErrBusy)
	}
	d.bufs.publish()
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: recv fd %d: %w", fd, err)
	}
	s.opcode, s.fd, s.flags, s.ioprio = opRecv, int32(fd), sqeBufferSelect, recvMultishot
	s.bufIndex = 0 // buffer group 0
	s.userData = userData(kindRecv, 0, int32(fd))
	st.recv = true
	return nil
}

// Send implements driver.Completer. The iovec array and the message
// header are the fd's own, reused; they keep the buffers alive until the
// completion is reaped (msgAddr).
func (d completerDriver) Send(fd int, bufs [][]byte) error {
	if d.r == nil {
		return fmt.Errorf("uring: send fd %d: %w", fd, os.ErrClosed)
	}
	st, err := d.comp(fd)
	if err != nil {
		return fmt.Errorf("uring: send fd %d: %w", fd, err)
	}
	if st.send {
		return fmt.Errorf("uring: send fd %d: %w", fd, driver.ErrBusy)
	}
	st.iov = st.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			st.iov = append(st.iov, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
		}
	}
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: send fd %d: %w", fd, err)
	}
	if len(st.iov) == 1 && st.iov[0].Len <= math.MaxInt32 {
		// One buffer: a SEND, which reads no message header or iovec
		// array from our memory. st.iov keeps the buffer alive.
		s.opcode, s.fd = opSend, int32(fd)
		s.addr = bufAddr(st.iov[0].Base)
		s.len = uint32(st.iov[0].Len)
	} else {
		st.msg = unix.Msghdr{}
		if len(st.iov) > 0 {
			st.msg.Iov, st.msg.Iovlen = &st.iov[0], uint64(len(st.iov))
		}
		s.opcode, s.fd = opSendMsg, int32(fd)
		s.addr = msgAddr(&st.msg)
		s.len = 1
	}
	s.opFlags = msgWaitAll | msgNoSignal
	s.userData = userData(kindSend, 0, int32(fd))
	st.send = true
	return nil
}

// Cancel implements driver.Completer: by fd for both requests, by the
// request's user_data for one.
func (d completerDriver) Cancel(fd int, op driver.Op) error {
	if d.r == nil {
		return fmt.Errorf("uring: cancel fd %d: %w", fd, os.ErrClosed)
	}
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: cancel fd %d: %w", fd, err)
	}
	s.opcode, s.fd = opAsyncCancel, int32(fd)
	switch op {
	case driver.OpRecv:
		s.fd, s.addr = -1, userData(kindRecv, 0, int32(fd))
	case driver.OpSend:
		s.fd, s.addr = -1, userData(kindSend, 0, int32(fd))
	default:
		s.opFlags = cancelAll | cancelFd
	}
	s.userData = userData(kindCancel, 0, int32(fd))
	return nil
}

// Completions implements driver.Completer.
func (d completerDriver) Completions(out []driver.Completion) int {
	n := copy(out, d.done)
	rest := copy(d.done, d.done[n:])
	clear(d.done[rest:]) // drop the Data references
	d.done = d.done[:rest]
	return n
}

// Release implements driver.Completer.
func (d completerDriver) Release(c *driver.Completion) {
	if c.Buf >= 0 && d.bufs != nil {
		d.bufs.give(uint16(c.Buf))
	}
	c.Buf, c.Data = -1, nil
}

// completed converts one completion-mode CQE for the caller.
func (d *Driver) completed(kind uint64, fd int32, res int32, flags uint32) {
	if kind == kindCancel || fd < 0 || int(fd) >= len(d.comps) || d.comps[fd] == nil {
		return
	}
	st := d.comps[fd]
	c := driver.Completion{Fd: fd, Res: res, Buf: -1, More: flags&cqeFMore != 0}
	switch kind {
	case kindRecv:
		c.Op = driver.OpRecv
		if flags&cqeFBuffer != 0 {
			bid := uint16(flags >> cqeBufferShift)
			c.Buf = int32(bid)
			if c.Data = d.bufs.data(bid, res); c.Data == nil {
				// A buffer with no bytes (an error after it was
				// picked): give it back at once.
				d.bufs.give(bid)
				c.Buf = -1
			}
		}
		if !c.More {
			st.recv = false
		}
	case kindSend:
		c.Op, c.More = driver.OpSend, false
		clear(st.iov) // the kernel is done: keep nothing alive
		st.msg.Iov = nil
		st.send = false
	default:
		return
	}
	d.done = append(d.done, c)
}

// closeCompletion releases completion mode's memory at Close: the ring is
// closed (its teardown cancels every request), so nothing is in flight.
func (d *Driver) closeCompletion() []error {
	d.comps = nil // the ring is closed: the sends' memory may go
	var errs []error
	if d.bufs != nil {
		errs = d.bufs.close()
		d.bufs = nil
	}
	d.done = nil
	return errs
}
