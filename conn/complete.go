package conn

import (
	"fmt"
	"io"
	"syscall"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// Completion mode (center.Config.IO = IOCompletion on io_uring): once the
// socket is connected, the kernel receives into the driver's buffers
// (one multishot receive, armed while reading is allowed) and sends the
// writer's buffers with one gathered sendmsg at a time; the completions
// come to onCompletion. The frame pipeline is the same as in readiness
// mode: received bytes are copied into the frame reader (the frame's own
// buffer for a large frame) and the buffer given back at once; the writer
// is not touched while a send is in flight.
//
// A throttle that refuses a frame cancels the receive; the chunks already
// on their way wait in their buffers (cmPending), and are fed, and the
// receive armed again, when the throttle lets reading resume. A socket given up (fault, close,
// hand-over to another session) is quiesced first: its requests are
// cancelled and only after their last completion is it closed or moved
// (center.Quiesce), so that no request of the driver outlives it.

// onCompletion is the socket's completion handler.
func (c *Connection) onCompletion(cp *driver.Completion) {
	switch cp.Op {
	case driver.OpRecv:
		c.onRecv(cp)
	case driver.OpSend:
		c.onSent(cp)
	default:
		c.c.Release(cp)
	}
}

// armRecv arms the receive, unless it is armed, reading is refused, or
// there is no socket.
func (c *Connection) armRecv() {
	if c.cmRecv || c.readBlocked || !c.sock.open() {
		return
	}
	if st := c.core.St.Load(); st != msgrbase.Handshake && st != msgrbase.Ready {
		return
	}
	if err := c.c.Recv(c.sock.fd, c.cmFn); err != nil {
		c.fault(fmt.Errorf("conn: read: %w", err))
		return
	}
	c.cmRecv = true
}

// onRecv feeds one received chunk to the frame reader.
func (c *Connection) onRecv(cp *driver.Completion) {
	fd := int(cp.Fd)
	if !cp.More {
		c.cmRecv = false
	}
	if fd != c.sock.fd {
		c.c.Release(cp)
		return
	}
	if cp.Res > 0 {
		c.lastRead = c.c.Now()
		c.cmPending = append(c.cmPending, pendingRecv{cp: *cp})
		c.drainPending()
		c.rd.Idle()
		if fd == c.sock.fd && c.core.St.Load() != msgrbase.Closed && c.writable() {
			// Replies and acks go out once the turn's completions are
			// all fed (its external events run after them): the chunks
			// of several connections, or several of one, make one send
			// each, not one per chunk.
			if err := c.c.Post(&c.writeEv); err != nil {
				c.writeLoop()
			}
		}
		c.flushCounts()
	} else {
		c.c.Release(cp)
	}
	if fd != c.sock.fd || c.core.St.Load() == msgrbase.Closed {
		return // faulted, closed or handed over while feeding
	}
	switch {
	case cp.Res == 0:
		c.fault(fmt.Errorf("conn: read: %w", io.EOF))
	case cp.Res < 0 && cp.Res != -int32(syscall.ECANCELED) && cp.Res != -int32(syscall.ENOBUFS):
		c.fault(fmt.Errorf("conn: read: %w", syscall.Errno(-cp.Res)))
	case !cp.More:
		// Out of buffers, cancelled by a throttle, or ended by the
		// kernel: armed again unless reading is refused.
		c.armRecv()
	}
}

// pendingRecv is a received chunk not yet fed in full: its buffer stays
// the driver's until then (a throttle refused reading).
type pendingRecv struct {
	cp  driver.Completion
	off int // bytes of cp.Data already fed
}

// drainPending feeds the received chunks in order, giving each buffer
// back once fed in full. A throttle that refuses a frame stops it (the
// rest waits, its buffer held, for the throttle retry) and cancels the
// receive: the chunks still on their way join the queue.
func (c *Connection) drainPending() {
	fd := c.sock.fd
	for c.cmHead < len(c.cmPending) && !c.readBlocked {
		p := &c.cmPending[c.cmHead]
		n, ok := c.feed(p.cp.Data[p.off:])
		p.off += n
		if fd != c.sock.fd || c.core.St.Load() == msgrbase.Closed {
			return // closed, faulted or handed over: the queue was let go
		}
		if p.off == len(p.cp.Data) {
			c.c.Release(&p.cp)
			*p = pendingRecv{}
			c.cmHead++
		}
		if !ok && c.readBlocked {
			if err := c.c.CancelRecv(fd); err != nil {
				c.fault(fmt.Errorf("conn: read: %w", err))
			}
			return
		}
	}
	if c.cmHead == len(c.cmPending) {
		c.resetPending()
	}
}

// resetPending empties the fed queue, keeping its array unless a throttle
// grew it.
func (c *Connection) resetPending() {
	c.cmHead = 0
	c.cmPending = c.cmPending[:0]
	if cap(c.cmPending) > 16 {
		c.cmPending = nil
	}
}

// feed feeds b to the frame reader: the whole frames that lie in it are
// processed in place in the driver's buffer (when the reader holds
// nothing), and of a frame split across buffers only its bytes are copied
// into the reader (its prefetch buffer, or a large frame's own buffer),
// so that the frames after it are processed in place again. It returns
// the bytes fed and false when processing stopped: a throttle refused, or
// the connection closed.
func (c *Connection) feed(b []byte) (int, bool) {
	n := 0
	for n < len(b) {
		if c.rd.Buffered() == 0 {
			k, err := c.rd.ProcessLent((*feeder)(c), b[n:])
			n += k
			if (k > 0 || err != nil) && !c.processed(err) {
				return n, false
			}
			if n == len(b) {
				break
			}
		}
		sp := c.rd.Space()
		if m := c.rd.Missing(); m > 0 && m < len(sp) {
			sp = sp[:m]
		}
		k := copy(sp, b[n:])
		c.rd.Filled(k)
		n += k
		if !c.process() {
			return n, false
		}
	}
	return n, true
}

// releasePending gives the held chunks' buffers back (the socket is given
// up).
func (c *Connection) releasePending() {
	for i := c.cmHead; i < len(c.cmPending); i++ {
		c.c.Release(&c.cmPending[i].cp)
		c.cmPending[i] = pendingRecv{}
	}
	c.resetPending()
}

// readCM is handleRead in completion mode: process what the reader holds
// (bytes kept while a throttle refused), then let the receive run.
func (c *Connection) readCM() {
	if c.rd.Buffered() > 0 && !c.process() {
		return
	}
	c.drainPending()
	if c.readBlocked || c.cmHead < len(c.cmPending) {
		return
	}
	c.rd.Idle()
	c.armRecv()
}

// writeCM starts a send of the pending output unless one is in flight
// (its completion continues).
func (c *Connection) writeCM() {
	if c.cmSend || !c.writable() {
		return
	}
	if c.msgr.sh.Injecting() {
		c.injectSocketFailure()
		if !c.sock.open() || c.core.St.Load() == msgrbase.Closed {
			return
		}
	}
	if !c.wr.Pending() && !c.gather() {
		return
	}
	c.sendBufs = c.wr.Buffers(c.sendBufs[:0])
	err := c.c.Send(c.sock.fd, c.sendBufs, c.cmFn)
	clear(c.sendBufs) // the driver has its own iovecs: keep nothing alive
	if err != nil {
		c.fault(fmt.Errorf("conn: write: %w", err))
		return
	}
	c.cmSend = true
}

// onSent advances the writer by what the send wrote and starts the next.
func (c *Connection) onSent(cp *driver.Completion) {
	c.cmSend = false
	if int(cp.Fd) != c.sock.fd || c.core.St.Load() == msgrbase.Closed {
		return
	}
	if cp.Res < 0 {
		c.fault(fmt.Errorf("conn: write: %w", syscall.Errno(-cp.Res)))
		return
	}
	c.cnt.cb.Add(perf.SendBytes, uint64(cp.Res))
	// Lossless: written messages wait for the peer's ack.
	c.wr.Advance(int(cp.Res), c.rs.lossless && c.core.St.Load() == msgrbase.Ready)
	c.writeCM()
	c.flushCounts()
}

// quiesceSocket gives up the socket in completion mode: shut down now (the
// peer sees the end, a send in flight fails), closed once the driver holds
// nothing of it.
func (c *Connection) quiesceSocket() {
	c.releasePending()
	fd := c.sock.Release()
	c.cmRecv, c.cmSend = false, false
	shutdownFD(fd)
	if err := c.c.Quiesce(fd, func() { closeFD(fd) }); err != nil {
		// The loop is gone (its center is closing: the ring's teardown
		// ends every request), or the fd was already being quiesced.
		closeFD(fd)
	}
}
