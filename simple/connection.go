package simple

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// Connection states are msgrbase.State: see its transition diagram.

// api is the shared gomsgr.Connection methods, embedded unexported so that
// only they are promoted.
type api = msgrbase.API

// Connection is one msgr2 session with a peer (Ceph's SimpleMessenger
// Pipe), served by its own goroutine and, while it has a socket, a writer
// goroutine. The connection's goroutine dials (client side), reads and
// feeds the session engine and dispatches; when the socket fails it runs
// the fault path (session.go): a lossy session closes, a lossless one
// requeues what the peer did not acknowledge and reconnects, backs off or
// waits in STANDBY, and may be handed a newer socket from the peer. The
// writer drains the out-queue into vectored writes. It implements
// gomsgr.Connection; its methods may be called from any goroutine. Besides
// the ones listed here it has the interface's methods and QueueLen, State
// and Role, shared with package conn.
type Connection struct {
	// The session engine, the out-queue, the sent list (wr.Sent) and the
	// fields marked "under core.Mu" are guarded by core.Mu; dispatchers
	// run with no lock held. Lock order: an accepting connection's core.Mu
	// (its engine asks Existing inside Feed), then the shell's registry
	// lock, then the existing connection's core.Mu.
	api
	core msgrbase.Conn
	msgr *Messenger

	lastRead atomic.Int64 // loop-clock reading (clock.Instant) of the last read
	readStop atomic.Bool  // the current socket was cut: a reader waiting for budget gives up

	cond sync.Cond     // on core.Mu: the writer waits on it for output or the end of its socket
	kick chan struct{} // wakes the connection's goroutine while it has no socket

	// Under core.Mu.
	eng          *session.Engine
	sock         *socket            // the socket being served (nil: none)
	gen          uint64             // counts socket attempts: a timer acts on its own only
	cancelDial   context.CancelFunc // ends a dial in progress
	sockErr      error              // why the current attempt was cut (a timeout, a write error); first wins
	readyTimer   *time.Timer
	idleTimer    *time.Timer
	stallTimer   *time.Timer // the message progress deadline (stall.go)
	stallGen     uint64      // the socket attempt stallTimer was armed for
	readyNow     bool        // set by Ready, taken by the connection's goroutine
	lossless     bool        // written messages wait in wr.Sent for the peer's ack
	acked        uint64      // the highest seq the peer acknowledged in this session
	halfAccepted bool        // accepted, not yet ready (Ceph's accept states)
	wasReady     bool        // the session was open once: its throttles are fixed
	handoff      *handoff
	replaceWith  *Connection // the existing connection a VerdictReplace chose

	// The connection's goroutine only.
	isClosed   func() bool    // c.stopRead, bound once (a method value per wait would allocate)
	rd         framing.Reader // received bytes into frames (and its throttle budget)
	prog       framing.Progress
	inbox      []inItem       // delivered by the engine during one Feed
	wakeWriter bool           // a feed left output: signal the writer
	rev        msgr2.Revision // the engine's, as the last feed left it
	backoff    time.Duration  // the current reconnect backoff
	recvTick   uint32         // picks the sampled feeds (SampleEvery)

	// The writer only (the connection's goroutine between two writers):
	// wr's pending output; wr.Sent is under core.Mu.
	wr       framing.Writer
	batch    []outMsg
	bufs     net.Buffers // the buffers of a write (reused)
	wbufs    net.Buffers // what WriteTo consumes of bufs
	sendTick uint32      // picks the sampled writes (SampleEvery)
}

var _ gomsgr.Connection = (*Connection)(nil)

// socket is one socket a connection serves, with its writer.
type socket struct {
	nc       net.Conn
	stop     bool          // under core.Mu: the writer returns
	linger   bool          // under core.Mu: the writer writes the engine's last frames, then returns
	done     chan struct{} // closed when the writer returned
	startErr error         // the session failed as the socket was taken over (Resume)
}

// handoff is a socket an accepted connection moves onto the existing
// session its peer asked for (Ceph's reuse_connection): the engine that
// took the request, the request and the verdict.
type handoff struct {
	nc   net.Conn
	from *session.Engine
	req  *session.Request
	v    session.Verdict
}

// ops is the connection as its messenger's shell calls it (msgrbase.ConnOps)
// and sink as its engine does (session.Sink): other types, so that these
// methods stay out of Connection's API.
type (
	ops  Connection
	sink Connection
)

// inItem is a received message and the throttle budget it holds until it
// is dispatched.
type inItem struct {
	m *gomsgr.Message
	h msgrbase.Held
}

func newConnection(m *Messenger, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Connection {
	c := &Connection{msgr: m, kick: make(chan struct{}, 1)}
	c.api = msgrbase.NewAPI(&c.core)
	c.core.Init(&m.sh, (*ops)(c), c, role, peerType, target)
	c.cond.L = &c.core.Mu
	c.isClosed = c.stopRead
	c.core.PC = m.counters()
	if role == session.Server {
		c.core.St.Store(msgrbase.Handshake)
		c.halfAccepted = true
	}
	c.eng = session.New(m.sh.SessionConfig(role, peerType, target, myAddrs), (*sink)(c))
	c.rd.Init(framing.ReaderConfig{PrefetchBytes: m.opts.PrefetchBytes, MaxSegmentBytes: m.opts.MaxSegmentBytes, SmallIdle: true, Prefix: "simple"})
	c.prog.Init(m.opts.MessageProgressTimeout)
	return c
}

// Wake signals the writer: output was queued (msgrbase.ConnOps). A
// session in STANDBY is woken too: it reconnects to send.
func (o *ops) Wake() error {
	o.cond.Signal()
	// A goroutine entering STANDBY stores the state, then looks at the
	// queue, under core.Mu; a sender pushes under core.Mu, then loads the
	// state here: one of the two sees the other.
	if o.core.St.Load() == msgrbase.Standby {
		(*Connection)(o).wake()
	}
	return nil
}

// wake wakes the connection's goroutine if it waits without a socket.
func (c *Connection) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// MarkDown closes the connection (msgrbase.ConnOps).
func (o *ops) MarkDown() { (*Connection)(o).close(gomsgr.ErrMarkedDown, false) }

// Fail closes the connection with a reset event (a lossy session that a
// newer one replaces; msgrbase.ConnOps).
func (o *ops) Fail(err error) { (*Connection)(o).close(err, true) }

// SendMessage queues msg for the peer. The messenger owns msg from now on.
func (c *Connection) SendMessage(msg *gomsgr.Message) error { return c.core.Send(msg) }

// Unacked returns the number of written messages the peer has not
// acknowledged yet (lossless policies keep them for replay).
func (c *Connection) Unacked() int { return c.wr.Sent.Len() }

// SessionIDs returns the session's connect_seq and cookies (for dumps).
func (c *Connection) SessionIDs() (connectSeq, clientCookie, serverCookie uint64) {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	cc, sc := c.eng.Cookies()
	return c.eng.ConnectSeq(), cc, sc
}

// lingerTimeout bounds how long a connection that failed on bad input
// tries to write the engine's last frames (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES) before it gives the socket up.
const lingerTimeout = time.Second

// armReadyLocked starts the ready timer of socket attempt gen: connect +
// handshake within ReadyTimeout. Caller holds core.Mu.
func (c *Connection) armReadyLocked(gen uint64) {
	if c.readyTimer != nil {
		c.readyTimer.Stop()
	}
	c.readyTimer = time.AfterFunc(c.msgr.opts.ReadyTimeout, func() { c.onReadyTimeout(gen) })
}

// armIdleLocked starts the idle timer of socket attempt gen. Caller holds
// core.Mu.
func (c *Connection) armIdleLocked(gen uint64) {
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.idleTimer = time.AfterFunc(c.msgr.opts.IdleTimeout, func() { c.onIdleTimer(gen) })
}

// stopTimersLocked stops the ready and idle timers. Caller holds core.Mu.
func (c *Connection) stopTimersLocked() {
	if c.readyTimer != nil {
		c.readyTimer.Stop()
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.stallTimer != nil {
		c.stallTimer.Stop()
	}
}

func (c *Connection) onReadyTimeout(gen uint64) {
	c.cut(gen, gomsgr.ErrReadyTimeout, func(st msgrbase.State) bool {
		if st == msgrbase.Ready {
			return false
		}
		c.core.PC.Inc(perf.ConnectionReadyTimeouts)
		return true
	})
}

// onIdleTimer faults the socket if nothing was read for IdleTimeout, or
// re-arms for the rest (reads do not touch the timer).
func (c *Connection) onIdleTimer(gen uint64) {
	idle := c.msgr.opts.IdleTimeout
	c.cut(gen, gomsgr.ErrIdleTimeout, func(st msgrbase.State) bool {
		if st != msgrbase.Ready {
			return false
		}
		since := clock.Since(clock.Instant(c.lastRead.Load()))
		if since < idle {
			c.idleTimer.Reset(idle - since)
			return false
		}
		c.core.PC.Inc(perf.ConnectionIdleTimeouts)
		return true
	})
}

// cut ends socket attempt gen with err, from any goroutine, if cond holds
// for the state under the lock (so that a timer that fires as the
// handshake completes cannot cut a session that just became ready): the
// dial is cancelled or the socket closed, and the connection's goroutine
// runs the fault path with err.
func (c *Connection) cut(gen uint64, err error, cond func(state msgrbase.State) bool) {
	c.core.Mu.Lock()
	st := c.core.St.Load()
	if c.gen != gen || st == msgrbase.Closed || !cond(st) {
		c.core.Mu.Unlock()
		return
	}
	if c.sockErr == nil {
		c.sockErr = err
	}
	cancel, s := c.cancelDial, c.sock
	c.core.Mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if s != nil {
		c.interrupt(s)
	}
}

// interrupt closes s, so that its reader and writer fail, and wakes a
// reader waiting for throttle budget.
func (c *Connection) interrupt(s *socket) {
	c.readStop.Store(true)
	c.wakeThrottles()
	_ = s.nc.Close() // the reader's fault path runs; an error means it was closed already
}

func (c *Connection) wakeThrottles() {
	c.core.Mu.Lock()
	thr := c.core.Thr
	c.core.Mu.Unlock()
	thr.Msgs.Wake()
	thr.Bytes.Wake()
	c.msgr.sh.DThr.Wake()
}

// close closes the connection for good from any goroutine: it closes the
// socket (which ends the reader and the writer), cancels a dial, wakes the
// connection's goroutine, stops the timers and releases the queued
// messages; the goroutine releases the rest as it returns. With notify,
// the messenger delivers a reset (or refused) event. Only the first call
// acts.
func (c *Connection) close(err error, notify bool) {
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed {
		c.core.Mu.Unlock()
		return
	}
	prev := c.core.SetClosedLocked(err)
	c.eng.Close(err)
	c.stopTimersLocked()
	cancel, s, h := c.cancelDial, c.sock, c.handoff
	c.handoff, c.core.Replacing = nil, false
	dropped := c.core.DrainOutLocked()
	c.core.Mu.Unlock()
	c.cond.Broadcast()
	c.wake()
	if cancel != nil {
		cancel()
	}
	if s != nil {
		c.interrupt(s)
	} else {
		c.wakeThrottles()
	}
	if h != nil {
		_ = h.nc.Close() // never used
	}
	for _, m := range dropped {
		m.Release()
	}
	c.msgr.connClosed(c, prev, err, notify)
}

// stopRead reports whether a reader waiting for throttle budget gives up:
// the connection closed or its socket was cut (both wake the throttles).
func (c *Connection) stopRead() bool {
	return c.readStop.Load() || c.core.St.Load() == msgrbase.Closed
}
