package simple

import (
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

// The read side, on the connection's goroutine: serve one socket (start
// its writer, read, feed the engine, dispatch) until it fails.

// errSocketCut is what a read waiting for throttle budget ends with when
// its socket was cut (the fault path then runs with the cause, if any).
var errSocketCut = errors.New("simple: socket cut")

// attachLocked makes nc the socket of attempt c.gen, in the handshake
// state, and tunes it. Caller holds core.Mu; the connection is not closed.
func (c *Connection) attachLocked(nc net.Conn) *socket {
	c.tune(nc)
	s := &socket{nc: nc, done: make(chan struct{})}
	c.sock = s
	c.readStop.Store(false)
	c.core.St.Store(msgrbase.Handshake)
	return s
}

// beginLocked starts socket attempt c.gen+1: its own ready timer, no
// cause yet. Caller holds core.Mu.
func (c *Connection) beginLocked() {
	c.gen++
	c.sockErr = nil
	c.armReadyLocked(c.gen)
}

// accept starts the session on an accepted socket; nil if the connection
// closed meanwhile.
func (c *Connection) accept(nc net.Conn) *socket {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	if c.core.St.Load() == msgrbase.Closed {
		_ = nc.Close() // never used
		return nil
	}
	c.beginLocked()
	s := c.attachLocked(nc)
	c.eng.Start()
	c.rev = c.eng.Revision()
	return s
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

// serve runs socket s until it fails and returns why: it starts the
// writer, reads and feeds the engine, then stops the writer and closes
// the socket, except after session.ErrReplaced (the socket moves to
// another connection: handOver). The cause recorded by whoever cut the
// socket (a timer, the writer) wins over the read error it led to.
func (c *Connection) serve(s *socket) error {
	c.lastRead.Store(int64(clock.Now()))
	c.msgr.wg.Add(1) // this goroutine is counted: the count is not zero
	go c.writeLoop(s)
	c.cond.Broadcast() // the banner, or what Resume queued
	c.core.Mu.Lock()
	ready := c.readyNow
	c.readyNow = false
	c.core.Mu.Unlock()
	if ready {
		c.msgr.connReady(c) // a session taken over is open at once
	}
	failed, err := s.startErr != nil, s.startErr
	if err == nil {
		failed, err = c.readLoop(s)
	}
	replaced := errors.Is(err, session.ErrReplaced)
	if failed && !replaced {
		c.linger(s)
	}
	c.stopWriter(s, !replaced)
	if n := c.rd.Buffered(); replaced && n > 0 {
		// The peer sends nothing after its request until the answer:
		// dropped, as conn drops them (handOver).
		c.msgr.sh.Logger().Debug("simple: bytes past a session request dropped", "bytes", n)
	}
	c.rd.Reset()
	c.prog.Reset()
	c.msgr.sh.HandshakeDone(&c.core) // an accepted socket's slot
	c.core.Mu.Lock()
	if c.sockErr != nil && !replaced {
		err = c.sockErr
	}
	c.sock, c.sockErr = nil, nil
	c.gen++ // the attempt's timers no longer act
	c.stopTimersLocked()
	c.core.Mu.Unlock()
	return err
}

// linger lets the writer send what the failed engine queued last
// (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES: the peer learns why, as Ceph
// does), within lingerTimeout.
func (c *Connection) linger(s *socket) {
	c.core.Mu.Lock()
	if len(c.eng.Output()) == 0 || c.core.St.Load() == msgrbase.Closed {
		c.core.Mu.Unlock()
		return
	}
	s.linger = true
	c.core.Mu.Unlock()
	// Also ends a write in progress; an error means the socket is gone,
	// and the writer's next write fails.
	_ = s.nc.SetWriteDeadline(time.Now().Add(lingerTimeout))
	c.cond.Broadcast()
	<-s.done
}

// stopWriter ends s's writer and waits for it. With closeSocket the socket
// is closed (a write in progress fails); without, it is kept for another
// connection, and a write in progress is cut short by a deadline (there
// is none: the peer is waiting for the answer to its request).
func (c *Connection) stopWriter(s *socket, closeSocket bool) {
	c.core.Mu.Lock()
	s.stop = true
	c.core.Mu.Unlock()
	c.cond.Broadcast()
	if closeSocket {
		_ = s.nc.Close() // ends the writer's write; an error means it was closed already
		<-s.done
		return
	}
	_ = s.nc.SetWriteDeadline(time.Unix(1, 0)) // best effort: it only hurries the writer
	<-s.done
	_ = s.nc.SetWriteDeadline(time.Time{})
}

// readLoop reads until the socket fails, feeding the engine through the
// shared frame reader (internal/framing). The reader holds a small buffer
// while traffic is light and a prefetch buffer while it streams. failed
// reports an error of the engine (its last frames may be worth writing).
func (c *Connection) readLoop(s *socket) (failed bool, err error) {
	for {
		b := c.rd.Space()
		c.injectSocketFailure(s.nc)
		n, err := s.nc.Read(b)
		if n > 0 {
			c.lastRead.Store(int64(clock.Now()))
			c.rd.Filled(n)
			if perr := c.process(); perr != nil {
				return !errors.Is(perr, errSocketCut), perr
			}
		}
		if err != nil {
			return false, fmt.Errorf("simple: read: %w", err)
		}
		if n < len(b) {
			c.rd.Idle() // drained: the next read may block
		}
	}
}

// process feeds buffered bytes to the engine and dispatches what it
// decoded. Once the session is open, a MESSAGE frame's budget is taken
// (waiting if need be) as soon as its preamble is in the buffer, before
// the rest of it is read or decoded.
func (c *Connection) process() error {
	defer c.signalWriter()
	err := c.rd.Process((*feeder)(c))
	if c.prog.After(&c.rd, clock.Instant(c.lastRead.Load())) {
		c.armStall()
	}
	if errors.Is(err, framing.ErrBlocked) {
		return errSocketCut // closed or cut while waiting for budget
	}
	return err
}

// feeder is the connection as its frame reader feeds it (framing.Feeder).
type feeder Connection

// Feed runs the engine on b (Connection.feed).
func (f *feeder) Feed(b []byte) (n, need int, err error) { return (*Connection)(f).feed(b) }

// Open reports whether the session is open.
func (f *feeder) Open() bool { return f.core.St.Load() == msgrbase.Ready }

// Peek reads the next frame's preamble and size (Engine.PeekFrame), under
// the lock that guards the engine.
func (f *feeder) Peek(b []byte) (msgr2.Preamble, int, error) {
	f.core.Mu.Lock()
	defer f.core.Mu.Unlock()
	return f.eng.PeekFrame(b)
}

// Budget takes a MESSAGE frame's budget, waiting for it; the writer
// is woken first, so that replies and acks go out meanwhile.
func (f *feeder) Budget(size int64, h *msgrbase.Held) bool {
	c := (*Connection)(f)
	if c.core.Thr == (msgrbase.Throttles{}) && c.msgr.sh.DThr == nil {
		// Nothing limits: an empty budget, taken at once, still marks the
		// frame as pending for the progress deadline (as conn's does).
		h.TryTake(msgrbase.Throttles{}, nil, size)
		c.prog.Took(size)
		return true
	}
	c.signalWriter()
	if !h.Take(c.core.Thr, c.msgr.sh.DThr, size, c.isClosed) {
		return false
	}
	c.prog.Took(size)
	return true
}

// feed runs the engine on b under the lock, then, with the lock released,
// reports readiness and dispatches the messages it decoded.
func (c *Connection) feed(b []byte) (n, need int, err error) {
	var start clock.Instant
	timed := c.core.PC != nil && c.msgr.sh.Sampled(c.recvTick)
	c.recvTick++
	if timed {
		start = clock.Now()
	}
	c.core.Mu.Lock()
	dups, skips := c.eng.Duplicates(), c.eng.Skipped()
	n, need, err = c.eng.Feed(b)
	ready := c.readyNow
	c.readyNow = false
	c.rev = c.eng.Revision()
	wake := c.pendingLocked(c.sock) // control frames, an ack, or messages queued before ready
	dups, skips = c.eng.Duplicates()-dups, c.eng.Skipped()-skips
	inSeq := c.eng.InSeq()
	c.core.PublishSeqs(inSeq, c.eng.OutSeq())
	c.core.Mu.Unlock()
	if timed { // a sampled feed stands for SampleEvery of them
		c.core.PC.AddTime(perf.RunningRecvTime, clock.Since(start)*c.msgr.sh.SampleEvery())
	}
	if dups > 0 {
		c.msgr.sh.SC.Duplicates.Add(dups)
	}
	if skips > 0 {
		c.msgr.sh.SC.Skipped.Add(skips)
		c.msgr.sh.Logger().Info("simple: missed message? received seqs skipped some",
			"peer", c.core.PeerName.String(), "skipped", skips, "in_seq", inSeq)
	}
	// Dispatch with no lock held: a fast dispatcher may send on c.
	if ready {
		c.msgr.connReady(c)
	}
	for i, in := range c.inbox {
		c.inbox[i] = inItem{}
		c.injectRecvDelay()
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

// The engine calls sink inside Feed or Resume, on the connection's
// goroutine, with core.Mu held.

var (
	_ session.Sink        = (*sink)(nil)
	_ session.SessionSink = (*sink)(nil)
)

// Ready is called by the engine when the handshake completes.
func (s *sink) Ready(e *session.Engine) {
	c := (*Connection)(s)
	c.core.SetReadyLocked(e)
	c.readyNow = true
	c.halfAccepted = false
	if !c.wasReady {
		// Once per connection: a session keeps its peer type, and the
		// budget a message holds names its throttles.
		c.core.Thr = c.msgr.sh.Pols.Throttles(c.core.PeerT)
		c.wasReady = true
	}
	c.lossless = !e.Policy().Lossy
	c.acked = 0 // acks of this socket's messages are still to come
	c.backoff = 0
	if c.readyTimer != nil {
		c.readyTimer.Stop()
	}
	c.armIdleLocked(c.gen)
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

// Acked is called by the engine when the peer acknowledges every message
// up to seq: those leave the sent list. The writer may not have moved the
// last of them there yet (it does after its write returns): it trims the
// list to acked when it does.
func (s *sink) Acked(seq uint64) {
	c := (*Connection)(s)
	c.acked = max(c.acked, seq)
	if c.wr.Sent.Len() > 0 {
		c.wr.Sent.Ack(seq)
	}
}
