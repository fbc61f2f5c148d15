package conn

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/fdio"
	"github.com/gomsgr/gomsgr/internal/msgint"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// Connection states are msgrbase.State: see its transition diagram.

// wpart is one piece of pending output. On the last piece of a message, m
// and f are set so that the message is released once the piece is written.
type wpart struct {
	b []byte
	m *gomsgr.Message
	f *msgr2.MessageFrame
}

var framePool = sync.Pool{New: func() any { return new(msgr2.MessageFrame) }}

// api is the shared gomsgr.Connection methods, embedded unexported so that
// only they are promoted.
type api = msgrbase.API

// Received payloads are copied into (or, for frames larger than the prefetch
// buffer, read straight into) buffers from internal/rxbuf's size classes.
// Prefetch buffers, all of one size per messenger, come from a plain
// sync.Pool (Messenger.prefetch).

// Connection is one msgr2 session with a peer, pinned to a worker (Ceph's
// AsyncConnection). It implements gomsgr.Connection; its methods may be
// called from any goroutine.
type Connection struct {
	api
	core msgrbase.Conn // identity, state, out-queue, peer: shared with senders
	msgr *Messenger
	w    *center.Worker
	c    *center.Center

	writeEv center.Event
	sess    session.Existing // under core.Mu: published for other connections' decisions

	// Worker-only.
	fd           int
	eng          *session.Engine
	rb           *[]byte    // prefetch buffer, held only while bytes are pending
	buf          []byte     // current read buffer: *rb or a frame-sized one
	big          bool       // buf is a frame-sized buffer that messages may keep
	bigRB        *rxbuf.Buf // that buffer until a message takes it
	r, wpos      int
	parts        []wpart
	iovs         *[iovMax]unix.Iovec
	ctrl         []byte
	tmpIov       [][]byte
	wantWrite    bool
	hup          bool // the socket reported a hang-up: read until EOF
	readyTimer   center.Timer
	idleTimer    center.Timer
	lastRead     center.Instant // the loop's clock when a handler run last read bytes
	faultErr     error
	wasReady     bool
	halfAccepted bool // accepted, not yet ready (Ceph's accept states)

	// Reconnects (worker-only).
	backoff      time.Duration
	reconnectTmr center.Timer
	replaceWith  *Connection // the existing connection a VerdictReplace chose

	// Injected receive delays (worker-only): messages wait here in order.
	delayed  []delayedMsg
	delayTmr center.Timer

	// Lossless sessions (worker-only): written messages wait here, in seq
	// order, until the peer acknowledges them.
	lossless bool
	sent     []*gomsgr.Message
	sentHead int
	unacked  atomic.Int64 // len(sent) - sentHead, for other goroutines

	// Counting (worker-only): message and byte counts gather in cb, the
	// worker's batch, published once per loop turn (or per handler run,
	// on a stack that is not the messenger's: flushEach); ticks pick the
	// sampled timings (Options.SampleEvery).
	cb        *perf.Batch
	flushEach bool
	ackTick   uint32
	runTick   uint32 // handler runs, for timedRun

	// Receive throttling (worker-only).
	frameHeld   msgrbase.Held // taken for the MESSAGE frame at c.r, not yet delivered
	readBlocked bool          // a throttle refused: stop reading until the timer
	throttleTmr center.Timer
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
	c := &Connection{msgr: m, w: w, c: w.Center(), fd: -1}
	c.api = msgrbase.NewAPI(&c.core)
	c.core.Init(&m.sh, (*ops)(c), c, role, peerType, target)
	if !m.opts.NoCounters {
		c.core.PC = m.sh.Perf().Worker(w.ID())
		if id := w.ID(); id < len(m.batches) {
			c.cb = m.batches[id]
		} else {
			c.cb, c.flushEach = m.runBatches[id], true
		}
	}
	c.core.Labels = m.labels[w.ID()]
	c.writeEv.Init(c.handleWrite)
	c.readyTimer.Init(c.onReadyTimeout)
	c.idleTimer.Init(c.onIdleTimer)
	c.throttleTmr.Init(c.onThrottleRetry)
	c.reconnectTmr.Init(c.onReconnectTimer)
	c.delayTmr.Init(c.onDelayTimer)
	c.sess.PeerAddr = target
	h := m.opts.Testing
	cfg := session.Config{
		Role:            role,
		Name:            m.opts.Name,
		Addrs:           myAddrs,
		Nonce:           m.sh.Nonce(),
		PeerType:        peerType,
		PeerAddr:        target,
		Policy:          m.sh.Pols.Policy,
		GlobalSeq:       m.sh.GSeq.Next,
		NoRevision1:     h != nil && h.NoRevision1,
		MaxSegmentBytes: m.opts.MaxSegmentBytes,

		FailOnSkippedMessage: m.opts.FailOnSkippedMessage,
	}
	if h != nil {
		cfg.Step = h.Step
	}
	c.eng = session.New(cfg, (*sink)(c))
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

// State returns the connection's state name, for dumps and tests.
func (c *Connection) State() string { return c.core.St.Load().String() }

// Role returns the side of the current socket's handshake ("client" or
// "server"): an accepted connection is a server until it reconnects to its
// peer as a client.
func (c *Connection) Role() string {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	return c.core.Role.String()
}

// Worker returns the id of the worker the connection is pinned to.
func (c *Connection) Worker() int { return c.w.ID() }

// --- worker side ---

// connect starts a non-blocking connect (client). Runs on the worker.
func (c *Connection) connect() {
	c.core.PC.Inc(perf.CreatedConnections)
	c.core.PC.Inc(perf.ActiveConnections)
	if c.core.St.Load() != msgrbase.Connecting || c.fd >= 0 || c.wasReady || c.reconnectTmr.Armed() {
		// Closed, or a socket from the peer took the connection over
		// before this queued connect ran (and may have faulted since).
		return
	}
	c.dial()
}

// dial opens the socket and starts a non-blocking connect to c.core.Target.
func (c *Connection) dial() {
	ap := c.core.Target.Addr
	family := unix.AF_INET
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		c.fault(fmt.Errorf("conn: socket: %w", err))
		return
	}
	c.fd = fd
	c.tuneSocket()
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	err = unix.Connect(fd, sockaddr(ap))
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		c.fault(fmt.Errorf("conn: connect %v: %w", ap, err))
		return
	}
	if err := c.c.AddFile(fd, driver.ReadWrite, c.handleEvent); err != nil {
		c.fault(err)
		return
	}
	c.wantWrite = true
}

// accepted starts the server side on an accepted socket. Runs on the worker.
func (c *Connection) accepted(fd int) {
	c.core.PC.Inc(perf.CreatedConnections)
	c.core.PC.Inc(perf.ActiveConnections)
	c.fd = fd
	c.halfAccepted = true
	c.tuneSocket()
	c.core.St.Store(msgrbase.Handshake)
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if err := c.c.AddFile(fd, driver.Readable, c.handleEvent); err != nil {
		c.close(err, true)
		return
	}
	c.startSession()
	c.handleRead() // bytes may have arrived before the add
}

func (c *Connection) tuneSocket() {
	if !c.msgr.opts.DisableTCPNoDelay {
		// Best effort, as Ceph's set_nodelay: a socket without it still works.
		_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if n := c.msgr.opts.RcvBufBytes; n > 0 {
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n) // best effort, as Ceph's
	}
}

func (c *Connection) startSession() {
	c.iovs = c.msgr.iovs[c.w.ID()]
	c.lastRead = c.c.Now()
	c.eng.Start()
	c.handleWrite()
}

// handleEvent is the socket's readiness handler.
func (c *Connection) handleEvent(fd int, fired driver.Mask) {
	if fd != c.fd {
		return // a socket this connection gave up
	}
	if fired&driver.Hangup != 0 {
		c.hup = true
	}
	if c.core.St.Load() == msgrbase.Connecting {
		errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = unix.Errno(errno)
		}
		if err != nil {
			c.fault(fmt.Errorf("conn: connect %v: %w", c.core.Target.Addr, err))
			return
		}
		if fired&driver.Writable == 0 {
			return // not connected yet
		}
		c.core.St.Store(msgrbase.Handshake)
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
	if st := c.core.St.Load(); fired&driver.Readable != 0 && fd == c.fd && (st == msgrbase.Handshake || st == msgrbase.Ready) {
		c.handleRead()
	}
}

// handleRead reads until EAGAIN (or a short read), feeding the engine.
func (c *Connection) handleRead() {
	if c.readBlocked || c.fd < 0 {
		return // a throttle timer will resume
	}
	// lastRead takes the loop's clock as this turn read it: no reading of
	// our own.
	now := c.c.Now()
	if !c.timedRun() {
		c.readLoop(now)
		c.writeLoopGuarded() // replies, acks
		c.flushCounts()
		return
	}
	start := center.Nanotime()
	c.readLoop(now)
	mid := center.Nanotime()
	c.core.PC.AddTime(perf.RunningRecvTime, mid.Sub(start)*c.msgr.sh.SampleEvery())
	c.writeTimed(mid) // replies, acks; flushes the counts
}

// timedRun reports whether this handler run is one that counting times:
// one in Options.SampleEvery, each standing for SampleEvery runs in
// msgr_running_recv_time and msgr_running_send_time. The clock reads of a
// timed run then cost a fraction of a read per run.
func (c *Connection) timedRun() bool {
	if c.core.PC == nil {
		return false
	}
	t := c.runTick
	c.runTick++
	return c.msgr.sh.Sampled(t)
}

// flushCounts publishes the message and byte counts gathered in this
// handler run when no loop-turn hook does (flushEach): a few atomic adds per
// run instead of several per message.
func (c *Connection) flushCounts() {
	if c.flushEach {
		c.cb.Flush()
	}
}

// getBuffer takes a prefetch buffer from the pool. A connection holds one
// only while it has unprocessed bytes: an idle connection holds none, so
// thousands of idle connections cost no read buffers.
func (c *Connection) getBuffer() {
	c.rb = c.msgr.prefetch.Get().(*[]byte)
	c.buf = *c.rb
	c.r, c.wpos = 0, 0
}

// putBuffer returns an empty prefetch buffer to the pool.
func (c *Connection) putBuffer() {
	if c.rb != nil && !c.big && c.r == c.wpos {
		c.msgr.prefetch.Put(c.rb)
		c.rb, c.buf = nil, nil
		c.r, c.wpos = 0, 0
	}
}

// readLoop reads and processes until the socket is drained. now is the
// loop's clock for this handler run; it stamps lastRead.
func (c *Connection) readLoop(now center.Instant) {
	if c.rb == nil {
		c.getBuffer()
	}
	defer c.putBuffer()
	if c.wpos > c.r && !c.process() {
		return // bytes left from before a throttle stop
	}
	for c.core.St.Load() != msgrbase.Closed && !c.readBlocked {
		if c.wpos == len(c.buf) {
			// Full of an incomplete item that process made room for:
			// cannot happen unless the buffer holds unprocessed frames.
			if c.r == 0 {
				return
			}
			c.makeRoom(c.wpos - c.r + 1)
		}
		space := len(c.buf) - c.wpos
		if c.msgr.inject.Load() != nil {
			c.injectSocketFailure()
		}
		n, err := fdio.Read(c.fd, c.buf[c.wpos:])
		if n > 0 {
			c.wpos += n
			c.lastRead = now
			if !c.process() {
				return
			}
			if n < space && !c.hup {
				break // short read: the socket is drained, a new edge will come
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err == nil {
			err = io.EOF
		}
		c.fault(fmt.Errorf("conn: read: %w", err))
		return
	}
}

// process feeds buffered bytes to the engine; false means the connection
// closed or a throttle stopped reading.
//
// Once the session is open, each MESSAGE frame's budget is taken from the
// receive throttles when its preamble is in the buffer, before the rest of
// it is read; the engine is then fed that one frame. If a throttle refuses,
// reading stops (TCP pushes back on the sender) and a timer retries.
func (c *Connection) process() bool {
	for c.r < c.wpos {
		avail := c.buf[c.r:c.wpos]
		truncated := false
		if c.eng.State() == session.StateReady && len(avail) >= msgr2.PreambleSize {
			p, err := msgr2.ParsePreambleLimit(avail, c.maxSegment())
			if err == nil {
				if p.Tag == msgr2.TagMessage && !c.frameHeld.Taken() && !c.takeThrottles(&p) {
					c.readBlocked = true
					c.c.AddTimer(&c.throttleTmr, c.msgr.opts.ThrottleRetry)
					return false
				}
				if fs := p.FrameSize(c.eng.Revision()); fs < len(avail) {
					avail, truncated = avail[:fs], true
				}
			} // else: Feed reports the error
		}
		dups, skips := c.eng.Duplicates(), c.eng.Skipped()
		n, need, err := c.eng.Feed(avail)
		c.r += n
		if d := c.eng.Skipped() - skips; d > 0 {
			c.msgr.sh.SC.Skipped.Add(d)
			c.msgr.opts.Logger.Info("conn: missed message? received seqs skipped some",
				"peer", c.core.PeerName.String(), "skipped", d, "in_seq", c.eng.InSeq())
		}
		if err != nil {
			if errors.Is(err, session.ErrReplaced) {
				c.handOver()
				return false
			}
			c.lastWords()
			c.fault(err)
			return false
		}
		if d := c.eng.Duplicates() - dups; d > 0 {
			c.msgr.sh.SC.Duplicates.Add(d)
		}
		if n > 0 && c.frameHeld.Taken() {
			// The frame was consumed without a delivery (a duplicate or
			// an aborted frame): give its budget back.
			c.frameHeld.Release()
		}
		if c.eng.State() < session.StateReady {
			c.publish() // cookies and seqs may have changed
		}
		if c.r == c.wpos {
			c.r, c.wpos = 0, 0
			if c.big {
				// The frame-sized buffer was consumed: its message took it,
				// or it goes back to its pool.
				c.dropBig()
				c.buf = *c.rb
			}
		}
		if n == 0 || (!truncated && need > 0) {
			// The next item is incomplete: make room for all of it.
			if need > c.msgr.opts.PrefetchBytes && c.eng.State() != session.StateReady {
				// An unauthenticated peer does not get a frame buffer
				// of up to 4 × MaxSegmentBytes.
				c.fault(fmt.Errorf("%w: %d-byte frame before the session is open (limit %d)",
					session.ErrProtocol, need, c.msgr.opts.PrefetchBytes))
				return false
			}
			if need > 0 {
				c.makeRoom(need)
			}
			break
		}
	}
	return c.core.St.Load() != msgrbase.Closed
}

// lastWords writes, without waiting, the frames the engine queued before it
// failed (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES), so that the peer learns
// why, as Ceph does. Whatever the socket does not take at once is dropped.
func (c *Connection) lastWords() {
	out := c.eng.Output()
	if len(out) == 0 || c.fd < 0 || len(c.parts) > 0 {
		return // nothing to say, or a partial write would interleave
	}
	_, _ = unix.Write(c.fd, out) // best effort: the connection fails either way
	c.eng.Advance(len(out))
}

func (c *Connection) maxSegment() uint32 {
	if m := c.msgr.opts.MaxSegmentBytes; m != 0 {
		return m
	}
	return msgr2.DefaultMaxSegmentBytes
}

// takeThrottles takes the budget for the MESSAGE frame p: one message and
// its payload bytes from the peer type's throttles, the bytes from the
// dispatch throttle. All or nothing.
func (c *Connection) takeThrottles(p *msgr2.Preamble) bool {
	var size int64
	for i := 1; i < int(p.NumSegments); i++ { // segment 0 is the header
		size += int64(p.Segments[i].Len)
	}
	return c.frameHeld.TryTake(c.core.Thr, c.msgr.sh.DThr, size)
}

func (c *Connection) onThrottleRetry() {
	if c.core.St.Load() == msgrbase.Closed {
		return
	}
	c.readBlocked = false
	c.handleRead()
}

// makeRoom ensures the unconsumed bytes plus room for an item of need
// bytes in total fit in the read buffer, moving or growing it.
func (c *Connection) makeRoom(need int) {
	pending := c.wpos - c.r
	if need <= len(c.buf)-c.r {
		return
	}
	if need <= len(*c.rb) {
		copy(*c.rb, c.buf[c.r:c.wpos])
		c.dropBig()
		c.buf = *c.rb
	} else {
		// A frame larger than the prefetch buffer: read it into a buffer
		// of its own, which its message keeps (no copy of the payload).
		nb := rxbuf.Get(need)
		copy(nb.B, c.buf[c.r:c.wpos])
		c.dropBig()
		c.buf, c.big, c.bigRB = nb.B, true, nb
	}
	c.r, c.wpos = 0, pending
}

// handleWrite writes pending output until done or EAGAIN.
func (c *Connection) handleWrite() {
	if c.core.St.Load() == msgrbase.Standby {
		c.wakeStandby()
		return
	}
	if c.fd < 0 || c.core.St.Load() == msgrbase.Connecting || c.core.St.Load() == msgrbase.Closed {
		return
	}
	if !c.timedRun() {
		c.writeLoop()
		c.flushCounts()
		return
	}
	c.writeTimed(center.Nanotime())
}

// writeLoopGuarded is handleWrite without counters.
func (c *Connection) writeLoopGuarded() {
	if c.fd < 0 || c.core.St.Load() == msgrbase.Connecting || c.core.St.Load() == msgrbase.Closed {
		return
	}
	c.writeLoop()
}

// writeTimed writes in a timed run (timedRun), counting the time from
// start (a clock reading the caller already has) as running send time.
func (c *Connection) writeTimed(start center.Instant) {
	if c.fd >= 0 && c.core.St.Load() != msgrbase.Connecting && c.core.St.Load() != msgrbase.Closed {
		c.writeLoop()
		c.core.PC.AddTime(perf.RunningSendTime, center.Nanotime().Sub(start)*c.msgr.sh.SampleEvery())
	}
	c.flushCounts()
}

func (c *Connection) writeLoop() {
	for {
		if len(c.parts) == 0 && !c.gather() {
			break
		}
		if c.msgr.inject.Load() != nil {
			c.injectSocketFailure()
			if c.injectCongestion() {
				// As if the socket were full; the socket is writable, so
				// no edge will come: try again on the next loop turn.
				if err := c.c.Post(&c.writeEv); err != nil {
					c.fault(fmt.Errorf("conn: write: %w", err))
				}
				return
			}
		}
		n, err := writev(c.fd, c.parts, c.iovs)
		if err == unix.EAGAIN {
			if !c.wantWrite {
				// Without the writable interest no edge would ever come
				// and the output would wait forever: fail instead.
				if err := c.c.AddFile(c.fd, driver.Writable, c.handleEvent); err != nil {
					c.fault(fmt.Errorf("conn: write: %w", err))
					return
				}
				c.wantWrite = true
			}
			return
		}
		if err != nil {
			c.fault(fmt.Errorf("conn: write: %w", err))
			return
		}
		c.advance(n)
	}
	if c.wantWrite {
		c.wantWrite = false
		if err := c.c.DelFile(c.fd, driver.Writable); err != nil {
			c.fault(fmt.Errorf("conn: write: %w", err))
		}
	}
}

// gather collects output into parts: the engine's control frames first,
// then queued messages (highest priority first) once the session is ready,
// then a standalone ACK if messages arrived and none went out.
func (c *Connection) gather() bool {
	if c.core.St.Load() == msgrbase.Ready {
		c.core.Mu.Lock()
		ka := c.core.Keepalive
		c.core.Keepalive = false
		c.core.Mu.Unlock()
		if ka {
			c.eng.QueueKeepalive(time.Now())
		}
	}
	c.takeControl()
	sent := false
	if c.core.St.Load() == msgrbase.Ready {
		c.core.Mu.Lock()
		for c.core.Out.Len() > 0 && len(c.parts) < iovMax-8 {
			m, replay := c.popOut()
			c.core.Mu.Unlock()
			if replay {
				c.msgr.sh.SC.Replayed.Add(1)
			}
			c.encode(m)
			sent = true
			c.core.Mu.Lock()
		}
		c.core.Mu.Unlock()
		if !sent && c.eng.AckPending() {
			c.eng.QueueAck()
			c.takeControl()
		}
	}
	return len(c.parts) > 0
}

func (c *Connection) takeControl() {
	out := c.eng.Output()
	if len(out) == 0 {
		return
	}
	// Copy: the engine reuses its buffer; ctrl is only reused once every
	// part pointing into it has been written.
	start := len(c.ctrl)
	c.ctrl = append(c.ctrl, out...)
	c.eng.Advance(len(out))
	c.parts = append(c.parts, wpart{b: c.ctrl[start:len(c.ctrl):len(c.ctrl)]})
}

// popOut removes the highest-priority queued message and records how long
// it waited. Caller holds mu.
func (c *Connection) popOut() (*gomsgr.Message, bool) {
	it := c.core.Out.PopHighest()
	if it.Queued != 0 {
		// A sampled message (Options.SampleEvery): read the clock.
		c.core.PC.AddTime(perf.SendMessagesQueueLat, max(0, center.Nanotime().Sub(it.Queued)))
	}
	return it.M, it.Replay
}

func (c *Connection) encode(m *gomsgr.Message) {
	h := m.Header()
	c.eng.PrepareMessage(&h)
	m.Seq = h.Seq // the sent list is trimmed by seq
	f := framePool.Get().(*msgr2.MessageFrame)
	if pc := msgint.PayloadCRCs(m); pc != nil {
		f.EncodeCRC(c.eng.Revision(), &h, m.Front, m.Middle, m.Data, pc)
	} else {
		f.Encode(c.eng.Revision(), &h, m.Front, m.Middle, m.Data)
	}
	c.tmpIov = f.Iovecs(c.tmpIov[:0])
	for i, b := range c.tmpIov {
		p := wpart{b: b}
		if i == len(c.tmpIov)-1 {
			p.m, p.f = m, f
		}
		c.parts = append(c.parts, p)
	}
	c.cb.Inc(perf.SendMessages)
}

// advance drops n written bytes from the front of parts, releasing messages
// whose last byte went out.
func (c *Connection) advance(n int) {
	c.cb.Add(perf.SendBytes, uint64(n))
	i := 0
	for ; i < len(c.parts) && n >= len(c.parts[i].b); i++ {
		n -= len(c.parts[i].b)
		c.finishPart(&c.parts[i])
	}
	if i < len(c.parts) && n > 0 {
		c.parts[i].b = c.parts[i].b[n:]
	}
	rest := copy(c.parts, c.parts[i:])
	for j := rest; j < len(c.parts); j++ {
		c.parts[j] = wpart{}
	}
	c.parts = c.parts[:rest]
	if len(c.parts) == 0 {
		c.ctrl = c.ctrl[:0]
	}
}

func (c *Connection) finishPart(p *wpart) {
	if p.f != nil {
		framePool.Put(p.f)
	}
	if p.m != nil {
		if c.lossless && c.core.St.Load() == msgrbase.Ready {
			// Lossless: keep it until the peer acknowledges it.
			c.sent = append(c.sent, p.m)
			c.unacked.Add(1)
		} else {
			p.m.Release() // lossy: written is done
		}
	}
	*p = wpart{}
}

// releaseSent releases every message still waiting for an ack.
func (c *Connection) releaseSent() {
	for i := c.sentHead; i < len(c.sent); i++ {
		c.sent[i].Release()
		c.sent[i] = nil
	}
	c.sent, c.sentHead = c.sent[:0], 0
	c.unacked.Store(0)
}

// Ready is called by the engine when the handshake completes.
func (s *sink) Ready(e *session.Engine) {
	c := (*Connection)(s)
	c.halfAccepted = false
	if !c.wasReady {
		// Once per connection: a session keeps its peer type, and the
		// budget a message holds names its throttles.
		c.core.Thr = c.msgr.sh.Pols.Throttles(e.PeerType())
	}
	c.lossless = !e.Policy().Lossy
	c.core.SetReady(e) // Ready, and WaitReady returns
	c.wasReady = true
	c.backoff = 0
	c.publish()
	c.c.CancelTimer(&c.readyTimer)
	c.c.AddTimer(&c.idleTimer, c.msgr.opts.IdleTimeout)
	c.msgr.connReady(c)
}

// Deliver is called by the engine for each received message.
func (s *sink) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	c := (*Connection)(s)
	var own *rxbuf.Buf
	if c.big {
		own, c.bigRB = c.bigRB, nil // the frame has a buffer of its own: hand it over
	}
	m := rxbuf.Message(h, front, middle, data, own)
	m.Src = c.core.PeerName
	m.Conn = c
	m.RecvStamp = center.TimeOf(c.lastRead)
	c.cb.Inc(perf.RecvMessages)
	c.cb.Add(perf.RecvBytes, uint64(m.DispatchBytes))
	if c.delayed != nil || c.msgr.inject.Load() != nil {
		if c.maybeDelay(m) {
			return nil
		}
	}
	c.msgr.sh.Deliver(&c.core, m, c.frameHeld.Move())
	return nil
}

// dropBig ends the use of a frame-sized buffer: back to its pool unless a
// message took it.
func (c *Connection) dropBig() {
	if c.bigRB != nil {
		c.bigRB.Put()
		c.bigRB = nil
	}
	c.big = false
}

// Acked is called by the engine when the peer acknowledges every message
// up to seq: those leave the sent list.
func (s *sink) Acked(seq uint64) {
	c := (*Connection)(s)
	if c.sentHead == len(c.sent) {
		return
	}
	var start center.Instant
	if c.core.PC != nil {
		if c.msgr.sh.Sampled(c.ackTick) {
			start = center.Nanotime()
		}
		c.ackTick++
	}
	for c.sentHead < len(c.sent) && c.sent[c.sentHead].Seq <= seq {
		c.sent[c.sentHead].Release()
		c.sent[c.sentHead] = nil
		c.sentHead++
		c.unacked.Add(-1)
	}
	if c.sentHead == len(c.sent) {
		c.sent, c.sentHead = c.sent[:0], 0
	} else if c.sentHead > 64 && c.sentHead > len(c.sent)/2 {
		n := copy(c.sent, c.sent[c.sentHead:])
		clear(c.sent[n:])
		c.sent, c.sentHead = c.sent[:n], 0
	}
	if start != 0 {
		c.core.PC.AddTime(perf.HandleAckLat, center.Nanotime().Sub(start))
	}
}

// Unacked returns the number of written messages the peer has not
// acknowledged yet (lossless policies keep them for replay).
func (c *Connection) Unacked() int { return int(c.unacked.Load()) }

func (c *Connection) onReadyTimeout() {
	if st := c.core.St.Load(); st == msgrbase.Connecting || st == msgrbase.Handshake {
		c.core.PC.Inc(perf.ConnectionReadyTimeouts)
		c.fault(fmt.Errorf("%w (connection %s, session %v, %d bytes unread, %d parts unwritten)", gomsgr.ErrReadyTimeout, c.core.St.Load(), c.eng.State(), c.wpos-c.r, len(c.parts)))
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
	c.faultErr = err
	c.eng.Close(err)
	c.c.CancelTimer(&c.reconnectTmr)
	c.flushDelayed()
	for _, m := range c.dropSocket() {
		m.Release()
	}
	c.releaseSent()
	c.publish()
	c.discardOutQueue()
	c.msgr.connClosed(c, prev, err, notify)
}
