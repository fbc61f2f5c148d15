package simple

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// The reader goroutine: dial (client), read, feed the engine, dispatch.

// maxHandshakeFrameBytes bounds a frame before the session is ready. The
// handshake's frames are small (auth none: a few hundred bytes); without a
// bound, an unauthenticated peer could make the reader allocate a frame of
// up to 4 segments of MaxSegmentBytes.
const maxHandshakeFrameBytes = 64 << 10

// smallReadBytes is the read buffer of a connection with little in
// flight. A connection whose last read was small and drained the socket
// holds no prefetch buffer (it goes back to the pool), and small messages,
// ping-pong style, never need one.
const smallReadBytes = 512

// lightReadsToShrink is how many reads in a row of at most smallReadBytes
// that drained the socket make a connection go back to its small buffer.
const lightReadsToShrink = 8

// run is the connection's reader goroutine. nc is the accepted socket, or
// nil for a client, which dials first.
func (c *Connection) run(nc net.Conn) {
	defer c.msgr.wg.Done()
	if nc == nil {
		nc = c.dial()
		if nc == nil {
			return
		}
	}
	c.tune(nc)
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed {
		c.core.Mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.core.St.Store(msgrbase.Handshake)
	c.eng.Start()
	c.core.Mu.Unlock()

	c.buf, c.onSmall = c.small[:], true
	c.lastRead.Store(int64(clock.Now()))

	go c.writeLoop(nc)
	c.cond.Signal() // the banner
	c.readLoop(nc)
	<-c.writerDone
	c.hold.Release()
	c.dropBig()
	c.dropPrefetch()
	c.buf = nil
}

func (c *Connection) dial() net.Conn {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed {
		c.core.Mu.Unlock()
		return nil
	}
	c.cancelDial = cancel
	c.core.Mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.core.Target.Addr.String())
	c.core.Mu.Lock()
	c.cancelDial = nil
	c.core.Mu.Unlock()
	if err != nil {
		c.close(fmt.Errorf("simple: connect %v: %w", c.core.Target.Addr, err), true)
		return nil
	}
	return nc
}

func (c *Connection) tune(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	// Best effort, as Ceph's set_nodelay and SO_RCVBUF: a socket without
	// them still works.
	if c.msgr.opts.DisableTCPNoDelay {
		_ = tc.SetNoDelay(false) // Go enables TCP_NODELAY by default
	}
	if n := c.msgr.opts.RcvBufBytes; n > 0 {
		_ = tc.SetReadBuffer(n)
	}
}

// readLoop reads until the connection closes, feeding the engine.
func (c *Connection) readLoop(nc net.Conn) {
	for {
		if c.onSmall && c.r > 0 {
			// Keep the small buffer's room whole: move the partial frame
			// (less than smallReadBytes) to its start.
			c.w = copy(c.small[:], c.small[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.buf) {
			c.makeRoom(len(c.buf) + 1)
		}
		space := len(c.buf) - c.w
		n, err := nc.Read(c.buf[c.w:])
		if n > 0 {
			c.w += n
			c.lastRead.Store(int64(clock.Now()))
			if !c.process() {
				return
			}
		}
		if err != nil {
			c.close(fmt.Errorf("simple: read: %w", err), true)
			return
		}
		if n > smallReadBytes {
			c.lightReads = 0
		} else if n < space {
			c.lightReads++
		}
		if c.onSmall && n == space {
			// Data is streaming in: read it in prefetch-sized bites.
			c.makeRoom(c.msgr.opts.PrefetchBytes)
		} else if c.r == c.w && !c.big && n < space && c.lightReads >= lightReadsToShrink && !c.onSmall {
			// The socket is drained and traffic has been light for a
			// while: wait with the small buffer. (A stream keeps its
			// prefetch buffer; a connection that goes idle after one
			// drops it after a few small reads, such as keepalives.)
			c.dropPrefetch()
			c.buf, c.onSmall = c.small[:], true
		}
	}
}

// prefetch returns the prefetch buffer, taking one from the pool if the
// connection holds none.
func (c *Connection) prefetch() []byte {
	if c.rb == nil {
		c.rb = rxbuf.Get(c.msgr.opts.PrefetchBytes)
	}
	return c.rb.B
}

// dropPrefetch returns the prefetch buffer to the pool. buf must not point
// into it.
func (c *Connection) dropPrefetch() {
	if c.rb != nil {
		c.rb.Put()
		c.rb = nil
	}
}

// process feeds buffered bytes to the engine and dispatches what it
// decoded; false means the connection closed. The time spent decoding (not
// dispatching) counts as RunningRecvTime.
//
// Past the banner, frames are fed one at a time, so that a MESSAGE frame's
// throttle budget is taken (waiting if need be) as soon as its preamble is
// in the buffer, before the rest of it is read or decoded.
func (c *Connection) process() bool {
	defer c.signalWriter()
	for {
		end, ok := c.frameEnd()
		if !ok {
			return false // closed while waiting for a throttle
		}
		n, need, err := c.feed(c.buf[c.r:end])
		if err != nil {
			c.fail(err)
			return false
		}
		if n > 0 && c.hold.Taken() {
			c.hold.Release() // the frame was dropped (a duplicate)
		}
		if end < c.w && n > 0 {
			continue // more frames buffered
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if c.big {
				// The frame-sized buffer was consumed; its message keeps it.
				c.dropBig()
				if c.rb != nil {
					c.buf, c.onSmall = c.rb.B, false
				} else {
					c.buf, c.onSmall = c.small[:], true
				}
			}
		}
		if need > maxHandshakeFrameBytes && c.core.St.Load() != msgrbase.Ready {
			c.fail(fmt.Errorf("simple: %w: a %d-byte frame during the handshake (limit %d)", session.ErrProtocol, need, maxHandshakeFrameBytes))
			return false
		}
		if need > 0 {
			c.makeRoom(need)
		}
		return true
	}
}

// frameEnd returns where the next frame to feed ends in the buffer (the
// buffer's end when unknown: before the banner is parsed, or with less than
// a preamble buffered), taking the throttle budget of a MESSAGE frame
// first. false means the connection closed while waiting for budget.
func (c *Connection) frameEnd() (int, bool) {
	if !c.pastBanner || c.w-c.r < msgr2.PreambleSize {
		return c.w, true
	}
	p, err := msgr2.ParsePreambleLimit(c.buf[c.r:c.w], c.maxSegment)
	if err != nil {
		return c.w, true // the engine reports it
	}
	end := min(c.w, c.r+p.FrameSize(c.rev))
	if p.Tag == msgr2.TagMessage && !c.hold.Taken() && c.core.St.Load() == msgrbase.Ready &&
		(c.core.Thr != (msgrbase.Throttles{}) || c.msgr.sh.DThr != nil) {
		n := int64(p.Segments[1].Len) + int64(p.Segments[2].Len) + int64(p.Segments[3].Len)
		c.signalWriter() // replies and acks go out while we may wait
		if !c.hold.Take(c.core.Thr, c.msgr.sh.DThr, n, c.closed) {
			return 0, false
		}
	}
	return end, true
}

// feed runs the engine on b under the lock, then, with the lock released,
// reports readiness and dispatches the messages it decoded.
func (c *Connection) feed(b []byte) (n, need int, err error) {
	start := clock.Now()
	c.core.Mu.Lock()
	n, need, err = c.eng.Feed(b)
	ready := c.readyNow
	c.readyNow = false
	c.pastBanner = c.eng.State() != session.StateBanner
	c.rev = c.eng.Revision()
	wake := c.pendingLocked() // control frames, an ack, or messages queued before ready
	c.core.Mu.Unlock()
	c.r += n
	c.core.PC.AddTime(perf.RunningRecvTime, time.Duration(clock.Now()-start))
	// Dispatch with no lock held: a fast dispatcher may send on c.
	if ready {
		c.msgr.connReady(c)
	}
	for i, in := range c.inbox {
		c.inbox[i] = inItem{}
		c.msgr.sh.Deliver(&c.core, in.m, in.h)
	}
	c.inbox = c.inbox[:0]
	c.wakeWriter = c.wakeWriter || wake
	return n, need, err
}

// signalWriter wakes the writer if a feed left it something to write; once
// per read, not once per frame.
func (c *Connection) signalWriter() {
	if c.wakeWriter {
		c.wakeWriter = false
		c.cond.Signal()
	}
}

// fail closes the connection after the engine failed on input. The engine
// may have queued a frame that tells the peer why (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES), as Ceph sends them: the writer then flushes it,
// within lingerTimeout, and closes.
func (c *Connection) fail(err error) {
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed || c.nc == nil || len(c.eng.Output()) == 0 {
		c.core.Mu.Unlock()
		c.close(err, true)
		return
	}
	c.lingerErr = err
	c.nc.SetWriteDeadline(time.Now().Add(lingerTimeout)) // also ends a write in progress
	c.core.Mu.Unlock()
	c.cond.Signal()
}

// makeRoom ensures the unconsumed bytes plus room for an item of need
// bytes in total fit in the read buffer, moving or growing it.
func (c *Connection) makeRoom(need int) {
	pending := c.w - c.r
	if need <= len(c.buf)-c.r {
		return
	}
	old := c.bigRB
	c.bigRB = nil
	switch {
	case c.onSmall && need <= len(c.small):
		copy(c.small[:], c.buf[c.r:c.w])
	case need <= c.msgr.opts.PrefetchBytes:
		pb := c.prefetch()
		copy(pb, c.buf[c.r:c.w])
		c.buf, c.big, c.onSmall = pb, false, false
	default:
		// A frame larger than the prefetch buffer: read it into a pooled
		// buffer of its own, which its message keeps (no copy of the
		// payload). need is bounded by Options.MaxSegmentBytes per segment.
		rb := rxbuf.Get(need)
		copy(rb.B, c.buf[c.r:c.w])
		c.buf, c.big, c.bigRB, c.onSmall = rb.B, true, rb, false
	}
	if old != nil {
		old.Put()
	}
	c.r, c.w = 0, pending
}

// dropBig leaves the frame-sized buffer, returning it to the pool unless a
// message took it.
func (c *Connection) dropBig() {
	if c.bigRB != nil {
		c.bigRB.Put()
	}
	c.big, c.bigRB = false, nil
}

// The engine calls sink inside Feed, on the reader goroutine, with
// core.Mu held.

var _ session.Sink = (*sink)(nil)

// Ready is called by the engine when the handshake completes.
func (s *sink) Ready(e *session.Engine) {
	c := (*Connection)(s)
	c.core.SetReadyLocked(e)
	c.readyNow = true
	c.core.Thr = c.msgr.sh.Pols.Throttles(c.core.PeerT)
	c.readyTimer.Stop()
	c.idleTimer = time.AfterFunc(c.msgr.opts.IdleTimeout, c.onIdleTimer)
}

// Deliver is called by the engine for each received message; the message
// is dispatched once Feed returns and the lock is released.
func (s *sink) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	c := (*Connection)(s)
	var own *rxbuf.Buf
	if c.big {
		own, c.bigRB = c.bigRB, nil // the frame has a buffer of its own: hand it over
	}
	m := rxbuf.Message(h, front, middle, data, own)
	m.Src = c.core.PeerName
	m.Conn = c
	m.RecvStamp = clock.Instant(c.lastRead.Load()).Time()
	c.core.PC.Inc(perf.RecvMessages)
	c.core.PC.Add(perf.RecvBytes, uint64(m.DispatchBytes)) // payload bytes, as conn counts them
	c.inbox = append(c.inbox, inItem{m: m, h: c.hold.Move()})
	return nil
}

// Acked is called by the engine when the peer acknowledges messages
// (nothing to drop: sent messages are released once written).
func (s *sink) Acked(uint64) {}

// closed reports whether the connection closed: a reader waiting for
// throttle budget gives up then (close wakes the throttles).
func (c *Connection) closed() bool { return c.core.St.Load() == msgrbase.Closed }
