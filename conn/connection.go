package conn

import (
	"fmt"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// Connection states are msgrbase.State: see its transition diagram.

// api is the shared gomsgr.Connection methods, embedded unexported so that
// only they are promoted.
type api = msgrbase.API

// Connection is one msgr2 session with a peer, pinned to a worker (Ceph's
// AsyncConnection). It implements gomsgr.Connection; its methods may be
// called from any goroutine. Besides the ones listed here it has the
// interface's SendKeepalive, MarkDown, IsConnected, WaitReady, Err,
// PeerName, PeerType, PeerAddr, Features and Messenger, and QueueLen (the
// messages waiting to be written), State and Role (for dumps), shared with
// package simple.
type Connection struct {
	api
	core msgrbase.Conn // identity, state, out-queue, peer: shared with senders
	msgr *Messenger
	w    *center.Worker
	c    *center.Center

	writeEv center.Event
	sess    session.Existing // under core.Mu: published for other connections' decisions

	// Worker-only.
	sock         socket // the current socket (noSocket: none)
	eng          *session.Engine
	rd           framing.Reader // received bytes into frames (and its throttle budget)
	wr           framing.Writer // frames into vectored writes (and the sent list)
	iovs         *iovecs        // the worker's: writev runs on the worker
	wantWrite    bool
	hup          bool // the socket reported a hang-up: read until EOF
	readyTimer   center.Timer
	idleTimer    center.Timer
	lastRead     center.Instant // the loop's clock when a handler run last read bytes
	halfAccepted bool           // accepted, not yet ready (Ceph's accept states)
	readBlocked  bool           // a throttle refused: stop reading until throttleTmr
	throttleTmr  center.Timer
	prog         framing.Progress // the message progress deadline (stall.go)
	stallTmr     center.Timer

	// Completion mode (complete.go): a receive armed, a send in flight,
	// and the send's buffer list (reused).
	cm       bool
	cmFn     center.CompletionFunc // onCompletion, bound once: no closure per request
	cmRecv   bool
	cmSend   bool
	sendBufs [][]byte
	// cmPending holds received chunks not yet fed (a throttle refused),
	// in their driver buffers, from cmHead on.
	cmPending []pendingRecv
	cmHead    int

	rs  recovery // faults, reconnects, replacement (lossless.go)
	inj delays   // injected receive delays (inject.go)
	cnt counting // counts and sampled timings (counting.go)
}

var _ gomsgr.Connection = (*Connection)(nil)

// ops is the connection as its messenger's shell calls it (msgrbase.ConnOps)
// and sink as its engine does (session.Sink): other types, so that these
// methods stay out of Connection's API.
type (
	ops  Connection
	sink Connection
)

func newConnection(m *Messenger, w *center.Worker, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Connection {
	c := &Connection{msgr: m, w: w, c: w.Center(), sock: noSocket}
	c.cm = c.c.Completion()
	c.cmFn = c.onCompletion
	c.api = msgrbase.NewAPI(&c.core)
	c.core.Init(&m.sh, (*ops)(c), c, role, peerType, target)
	if !m.opts.NoCounters {
		c.core.PC = m.sh.Perf().Worker(w.ID())
		if id := w.ID(); id < len(m.batches) {
			c.cnt.cb = m.batches[id]
		} else {
			c.cnt.cb, c.cnt.flushEach = m.runBatches[id], true
		}
	}
	c.core.Labels = m.labels[w.ID()]
	c.rd.Init(framing.ReaderConfig{PrefetchBytes: m.opts.PrefetchBytes, MaxSegmentBytes: m.opts.MaxSegmentBytes, Prefix: "conn"})
	c.writeEv.Init(c.handleWrite)
	c.readyTimer.Init(c.onReadyTimeout)
	c.idleTimer.Init(c.onIdleTimer)
	c.throttleTmr.Init(c.onThrottleRetry)
	c.stallTmr.Init(c.onStall)
	c.prog.Init(m.opts.MessageProgressTimeout)
	c.rs.reconnectTm.Init(c.onReconnectTimer)
	c.inj.delayTmr.Init(c.onDelayTimer)
	c.sess.PeerAddr = target
	c.eng = session.New(m.sh.SessionConfig(role, peerType, target, myAddrs), (*sink)(c))
	c.publish()
	return c
}

// Wake posts the write event: output was queued (msgrbase.ConnOps).
func (o *ops) Wake() error {
	if err := o.c.Post(&o.writeEv); err != nil {
		return fmt.Errorf("conn: worker %d: %w", o.w.ID(), err)
	}
	return nil
}

// MarkDown closes the connection on its worker (msgrbase.ConnOps).
func (o *ops) MarkDown() {
	c := (*Connection)(o)
	if err := c.c.Submit(func() { c.close(gomsgr.ErrMarkedDown, false) }); err != nil {
		// The worker's loop has ended (its stack was stopped first): the
		// connection has no owner left, so tear-down runs here.
		c.close(gomsgr.ErrMarkedDown, false)
	}
}

// SendMessage queues msg for the peer. The messenger owns msg from now on.
func (c *Connection) SendMessage(msg *gomsgr.Message) error { return c.core.Send(msg) }

// Worker returns the id of the worker the connection is pinned to.
func (c *Connection) Worker() int { return c.w.ID() }

// --- worker side ---

// connect starts a non-blocking connect (client). Runs on the worker.
func (c *Connection) connect() {
	c.core.PC.Inc(perf.CreatedConnections)
	c.core.PC.Inc(perf.ActiveConnections)
	if c.core.St.Load() != msgrbase.Connecting || c.sock.open() || c.rs.wasReady || c.rs.reconnectTm.Armed() {
		// Closed, or a socket from the peer took the connection over
		// before this queued connect ran (and may have faulted since).
		return
	}
	c.dial()
}

// dial opens the socket and starts a non-blocking connect to the target.
func (c *Connection) dial() {
	ap := c.core.Target.Addr
	s, err := dialSocket(ap)
	if err != nil {
		c.fault(err)
		return
	}
	c.sock = s
	tuneSocket(s.fd, !c.msgr.opts.DisableTCPNoDelay, c.msgr.opts.RcvBufBytes)
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if err := c.c.AddFile(s.fd, driver.ReadWrite, c.handleEvent); err != nil {
		c.fault(err)
		return
	}
	c.wantWrite = true
}

// accepted starts the server side on an accepted socket. Runs on the worker.
func (c *Connection) accepted(s socket) {
	c.core.PC.Inc(perf.CreatedConnections)
	c.core.PC.Inc(perf.ActiveConnections)
	c.sock = s
	c.halfAccepted = true
	tuneSocket(s.fd, !c.msgr.opts.DisableTCPNoDelay, c.msgr.opts.RcvBufBytes)
	c.core.St.Store(msgrbase.Handshake)
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if c.cm {
		c.startSession()
		c.armRecv()
		return
	}
	if err := c.c.AddFile(s.fd, driver.Readable, c.handleEvent); err != nil {
		c.close(err, true)
		return
	}
	c.startSession()
	c.handleRead() // bytes may have arrived before the add
}

func (c *Connection) startSession() {
	c.iovs = c.msgr.iovs[c.w.ID()]
	c.lastRead = c.c.Now()
	c.eng.Start()
	c.handleWrite()
}

// handleEvent is the socket's readiness handler.
func (c *Connection) handleEvent(fd int, fired driver.Mask) {
	if fd != c.sock.fd {
		return // a socket this connection gave up
	}
	if fired&driver.Hangup != 0 {
		c.hup = true
	}
	if c.core.St.Load() == msgrbase.Connecting {
		if err := connectError(fd); err != nil {
			c.fault(fmt.Errorf("conn: connect %v: %w", c.core.Target.Addr, err))
			return
		}
		if fired&driver.Writable == 0 {
			return // not connected yet
		}
		c.core.St.Store(msgrbase.Handshake)
		if c.cm {
			// Connected: from now on the socket is in completion mode.
			if err := c.c.DelFile(fd, driver.ReadWrite); err != nil {
				c.fault(err)
				return
			}
			c.wantWrite = false
			c.startSession()
			c.armRecv()
			return
		}
		if err := c.c.DelFile(fd, driver.Writable); err != nil {
			c.fault(err)
			return
		}
		c.wantWrite = false
		c.startSession()
		fired &^= driver.Writable
	}
	if fired&driver.Writable != 0 && c.core.St.Load() != msgrbase.Closed {
		c.handleWrite()
	}
	// A fault in handleWrite may have dropped fd (and dialled anew): the
	// fired mask is then stale.
	if st := c.core.St.Load(); fired&driver.Readable != 0 && fd == c.sock.fd && (st == msgrbase.Handshake || st == msgrbase.Ready) {
		c.handleRead()
	}
}

// Ready is called by the engine when the handshake completes.
func (s *sink) Ready(e *session.Engine) {
	c := (*Connection)(s)
	c.halfAccepted = false
	if !c.rs.wasReady {
		// Once per connection: a session keeps its peer type, and the
		// budget a message holds names its throttles.
		c.core.Thr = c.msgr.sh.Pols.Throttles(e.PeerType())
	}
	c.rs.lossless = !e.Policy().Lossy
	c.core.SetReady(e) // Ready, and WaitReady returns
	c.rs.wasReady = true
	c.rs.backoff = 0
	c.publish()
	c.c.CancelTimer(&c.readyTimer)
	c.c.AddTimer(&c.idleTimer, c.msgr.opts.IdleTimeout)
	c.msgr.connReady(c)
}

// Deliver is called by the engine for each received message.
func (s *sink) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	c := (*Connection)(s)
	// A frame read into a buffer of its own gives it to its message.
	m := rxbuf.Message(h, front, middle, data, c.rd.TakeBig())
	m.Src = c.core.PeerName
	m.Conn = c
	m.RecvStamp = c.lastRead.Time()
	c.cnt.cb.Inc(perf.RecvMessages)
	c.cnt.cb.Add(perf.RecvBytes, uint64(m.DispatchBytes))
	if c.inj.delayed != nil || c.msgr.sh.Injecting() {
		if c.maybeDelay(m) {
			return nil
		}
	}
	c.msgr.sh.Deliver(&c.core, m, c.rd.Held.Move())
	return nil
}

// Acked is called by the engine when the peer acknowledges every message
// up to seq: those leave the sent list.
func (s *sink) Acked(seq uint64) {
	c := (*Connection)(s)
	if c.wr.Sent.Len() == 0 {
		return
	}
	tick := c.cnt.ackTick
	c.cnt.ackTick++
	if c.core.PC == nil || !c.msgr.sh.Sampled(tick) {
		c.wr.Sent.Ack(seq)
		return
	}
	start := center.Nanotime()
	c.wr.Sent.Ack(seq)
	c.core.PC.AddTime(perf.HandleAckLat, center.Nanotime().Sub(start))
}

// Unacked returns the number of written messages the peer has not
// acknowledged yet (lossless policies keep them for replay).
func (c *Connection) Unacked() int { return c.wr.Sent.Len() }

func (c *Connection) onReadyTimeout() {
	if st := c.core.St.Load(); st == msgrbase.Connecting || st == msgrbase.Handshake {
		c.core.PC.Inc(perf.ConnectionReadyTimeouts)
		c.fault(fmt.Errorf("%w (connection %s, session %v, %d bytes unread, %d buffers unwritten)", gomsgr.ErrReadyTimeout, c.core.St.Load(), c.eng.State(), c.rd.Buffered(), c.wr.Parts()))
	}
}

func (c *Connection) onIdleTimer() {
	if c.core.St.Load() != msgrbase.Ready {
		return
	}
	idle := center.Nanotime().Sub(c.lastRead)
	if idle >= c.msgr.opts.IdleTimeout {
		c.core.PC.Inc(perf.ConnectionIdleTimeouts)
		c.fault(gomsgr.ErrIdleTimeout)
		return
	}
	c.c.AddTimer(&c.idleTimer, c.msgr.opts.IdleTimeout-idle)
}

// close tears the connection down on its worker: socket, timers, queue.
// With notify, the messenger delivers a reset (or refused) event and forgets
// the connection.
func (c *Connection) close(err error, notify bool) {
	prev := c.core.SetClosed(err)
	if prev == msgrbase.Closed {
		return
	}
	if c.core.MarkedDown.Load() {
		notify = false // a mark-down delivers no event, even racing a fault
	}
	c.eng.Close(err)
	c.c.CancelTimer(&c.rs.reconnectTm)
	c.flushDelayed()
	for _, m := range c.dropSocket() {
		m.Release()
	}
	c.wr.Sent.Release()
	c.publish()
	c.discardOutQueue()
	c.msgr.connClosed(c, prev, err, notify)
}
