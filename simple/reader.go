package simple

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// The reader goroutine: dial (client), read, feed the engine, dispatch.

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
		_ = nc.Close() // never used
		return
	}
	c.nc = nc
	c.core.St.Store(msgrbase.Handshake)
	c.eng.Start()
	c.core.Mu.Unlock()

	c.lastRead.Store(int64(clock.Now()))

	go c.writeLoop(nc)
	c.cond.Signal() // the banner
	c.readLoop(nc)
	<-c.writerDone
	c.rd.Reset()
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

// readLoop reads until the connection closes, feeding the engine through
// the shared frame reader (internal/framing). The reader holds a small
// buffer while traffic is light and a prefetch buffer while it streams.
func (c *Connection) readLoop(nc net.Conn) {
	for {
		b := c.rd.Space()
		n, err := nc.Read(b)
		if n > 0 {
			c.lastRead.Store(int64(clock.Now()))
			c.rd.Filled(n)
			if !c.process() {
				return
			}
		}
		if err != nil {
			c.close(fmt.Errorf("simple: read: %w", err), true)
			return
		}
		if n < len(b) {
			c.rd.Idle() // drained: the next read may block
		}
	}
}

// process feeds buffered bytes to the engine and dispatches what it
// decoded; false means the connection closed. Once the session is open,
// a MESSAGE frame's budget is taken (waiting if need be) as soon as its
// preamble is in the buffer, before the rest of it is read or decoded.
func (c *Connection) process() bool {
	defer c.signalWriter()
	err := c.rd.Process((*feeder)(c))
	switch {
	case err == nil:
		return true
	case errors.Is(err, framing.ErrBlocked):
		return false // closed while waiting for budget
	}
	c.fail(err)
	return false
}

// feeder is the connection as its frame reader feeds it (framing.Feeder).
type feeder Connection

// Feed runs the engine on b (Connection.feed).
func (f *feeder) Feed(b []byte) (n, need int, err error) { return (*Connection)(f).feed(b) }

// Open reports whether the session is open.
func (f *feeder) Open() bool { return f.core.St.Load() == msgrbase.Ready }

// Revision is the session's framing revision, as the last feed left it.
func (f *feeder) Revision() msgr2.Revision { return f.rev }

// Budget takes a MESSAGE frame's budget, waiting for it; the writer
// is woken first, so that replies and acks go out meanwhile.
func (f *feeder) Budget(size int64, h *msgrbase.Held) bool {
	c := (*Connection)(f)
	if c.core.Thr == (msgrbase.Throttles{}) && c.msgr.sh.DThr == nil {
		return true // nothing limits: nothing to hold
	}
	c.signalWriter()
	return h.Take(c.core.Thr, c.msgr.sh.DThr, size, c.isClosed)
}

// feed runs the engine on b under the lock, then, with the lock released,
// reports readiness and dispatches the messages it decoded.
func (c *Connection) feed(b []byte) (n, need int, err error) {
	start := clock.Now()
	c.core.Mu.Lock()
	n, need, err = c.eng.Feed(b)
	ready := c.readyNow
	c.readyNow = false
	c.rev = c.eng.Revision()
	wake := c.pendingLocked() // control frames, an ack, or messages queued before ready
	c.core.Mu.Unlock()
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
	// Also ends a write in progress; an error means the socket is gone,
	// and the writer's next write fails.
	_ = c.nc.SetWriteDeadline(time.Now().Add(lingerTimeout))
	c.core.Mu.Unlock()
	c.cond.Signal()
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
	// A frame read into a buffer of its own gives it to its message.
	m := rxbuf.Message(h, front, middle, data, c.rd.TakeBig())
	m.Src = c.core.PeerName
	m.Conn = c
	m.RecvStamp = clock.Instant(c.lastRead.Load()).Time()
	c.core.PC.Inc(perf.RecvMessages)
	c.core.PC.Add(perf.RecvBytes, uint64(m.DispatchBytes)) // payload bytes, as conn counts them
	c.inbox = append(c.inbox, inItem{m: m, h: c.rd.Held.Move()})
	return nil
}

// Acked is called by the engine when the peer acknowledges messages
// (nothing to drop: sent messages are released once written).
func (s *sink) Acked(uint64) {}

// closed reports whether the connection closed: a reader waiting for
// throttle budget gives up then (close wakes the throttles).
func (c *Connection) closed() bool { return c.core.St.Load() == msgrbase.Closed }
