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
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// nanotime is the loops' clock (center.Nanotime), so that a reading taken
// by a sender compares with a worker's.
func nanotime() int64 { return center.Nanotime() }

// Connection states.
const (
	stConnecting int32 = iota // client: non-blocking connect in progress
	stHandshake               // banner, auth and ident frames
	stReady                   // session open
	stClosed                  // closed: marked down, or a lossy session faulted
	stStandby                 // lossless session kept without a socket
)

var stateNames = [...]string{"connecting", "handshake", "ready", "closed", "standby"}

// Errors a connection fails with.
var (
	// ErrReadyTimeout: connect + handshake did not finish within
	// Options.ReadyTimeout.
	ErrReadyTimeout = errors.New("conn: connection ready timeout")
	// ErrIdleTimeout: nothing was read for Options.IdleTimeout.
	ErrIdleTimeout = errors.New("conn: connection idle timeout")
	// ErrMarkedDown: the connection was marked down.
	ErrMarkedDown = errors.New("conn: marked down")
)

// wpart is one piece of pending output. On the last piece of a message, m
// and f are set so that the message is released once the piece is written.
type wpart struct {
	b []byte
	m *gomsgr.Message
	f *msgr2.MessageFrame
}

var framePool = sync.Pool{New: func() any { return new(msgr2.MessageFrame) }}

// Received payloads are copied into (or, for frames larger than the prefetch
// buffer, read straight into) buffers from internal/rxbuf's size classes.
// Prefetch buffers, all of one size per messenger, come from a plain
// sync.Pool (Messenger.prefetch).

// Connection is one msgr2 session with a peer, pinned to a worker (Ceph's
// AsyncConnection). Its exported methods may be called from any goroutine.
type Connection struct {
	msgr     *Messenger
	w        *center.Worker
	c        *center.Center
	role     session.Role
	peerType gomsgr.EntityType
	target   gomsgr.EntityAddr // the address dialled, or the accepted socket's peer
	key      msgrbase.AddrKey
	loopback bool

	state      atomic.Int32
	markedDown atomic.Bool // set at once by MarkDown; the worker closes later

	// Shared with senders, under mu.
	mu        sync.Mutex
	out       prioq.Queue[qitem] // the priority out-queue
	keepalive bool
	peerName  gomsgr.EntityName
	peerAddrs gomsgr.AddrVec
	features  uint64
	closeErr  error
	writeEv   center.Event
	sess      session.Existing // published for other connections' decisions

	// Worker-only.
	pc           *perf.Counters // the worker's counters
	labels       *workerLabels  // the worker's pprof labels (nil for loopback)
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
	lastRead     int64 // nanotime of the handler run that last read bytes
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
	cb                *perf.Batch
	flushEach         bool
	fastTick, ackTick uint32
	runTick           uint32 // handler runs, for timedRun
	sendTick          uint32 // under mu

	// Receive throttling (worker-only except thr, set before ready).
	thr         throttles
	frameHeld   held // taken for the MESSAGE frame at c.r, not yet delivered
	readBlocked bool // a throttle refused: stop reading until the timer
	throttleTmr center.Timer
}

func newConnection(m *Messenger, w *center.Worker, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Connection {
	c := &Connection{msgr: m, w: w, c: w.Center(), role: role, peerType: peerType, target: target, fd: -1}
	if !m.opts.NoCounters {
		c.pc = m.perf.Worker(w.ID())
		if id := w.ID(); id < len(m.batches) {
			c.cb = m.batches[id]
		} else {
			c.cb, c.flushEach = m.runBatches[id], true
		}
	}
	c.labels = m.labels[w.ID()]
	c.key = msgrbase.KeyOf(target)
	c.writeEv.Init(c.handleWrite)
	c.readyTimer.Init(c.onReadyTimeout)
	c.idleTimer.Init(c.onIdleTimer)
	c.throttleTmr.Init(c.onThrottleRetry)
	c.reconnectTmr.Init(c.onReconnectTimer)
	c.delayTmr.Init(c.onDelayTimer)
	c.sess.PeerAddr = target
	cfg := session.Config{
		Role:            role,
		Name:            m.opts.Name,
		Addrs:           myAddrs,
		Nonce:           m.nonce.Load(),
		PeerType:        peerType,
		PeerAddr:        target,
		Policy:          m.pols.Policy,
		GlobalSeq:       m.gseq.Next,
		NoRevision1:     m.opts.NoRevision1,
		MaxSegmentBytes: m.opts.MaxSegmentBytes,
		Step:            m.opts.Step,

		FailOnSkippedMessage: m.opts.FailOnSkippedMessage,
	}
	c.eng = session.New(cfg, c)
	c.publish()
	return c
}

// SendMessage queues msg for the peer. The messenger owns msg from now on.
func (c *Connection) SendMessage(msg *gomsgr.Message) error {
	if c.loopback {
		return c.msgr.deliverLoopback(c, msg)
	}
	prio := msg.Priority
	if prio == 0 {
		prio = gomsgr.PrioDefault
	} else if prio > 255 {
		prio = 255
	}
	// Checksum the payload here, on the sender's goroutine: the worker
	// then only encodes the 41-byte header when it writes the frame.
	msg.SetPayloadCRCs(msgr2.ComputePayloadCRCs(msg.Front, msg.Middle, msg.Data))
	msg.Seq = 0 // assigned when written; a requeued message keeps its own
	c.mu.Lock()
	if c.state.Load() == stClosed || c.markedDown.Load() {
		c.mu.Unlock()
		return gomsgr.ErrClosed
	}
	var queued int64
	if c.pc != nil {
		if c.sendTick&c.msgr.sampleMask == 0 {
			queued = nanotime()
		}
		c.sendTick++
	}
	c.out.Push(int(prio), qitem{m: msg, queued: queued})
	c.mu.Unlock()
	c.c.Post(&c.writeEv)
	return nil
}

// SendKeepalive queues a KEEPALIVE2 frame.
func (c *Connection) SendKeepalive() error {
	if c.loopback {
		return nil
	}
	c.mu.Lock()
	if c.state.Load() == stClosed {
		c.mu.Unlock()
		return gomsgr.ErrClosed
	}
	c.keepalive = true
	c.mu.Unlock()
	c.c.Post(&c.writeEv)
	return nil
}

// MarkDown closes the connection and discards its queue. No reset event is
// delivered (as in Ceph).
func (c *Connection) MarkDown() {
	c.msgr.unregister(c)
	if c.loopback {
		return
	}
	c.markedDown.Store(true)
	c.c.Submit(func() { c.close(ErrMarkedDown, false) })
}

// IsConnected reports whether the session is open.
func (c *Connection) IsConnected() bool {
	if c.loopback {
		return true
	}
	return c.state.Load() == stReady && !c.markedDown.Load()
}

// PeerName returns the peer's entity name (known once ready).
func (c *Connection) PeerName() gomsgr.EntityName {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerName
}

// PeerType returns the peer's entity type.
func (c *Connection) PeerType() gomsgr.EntityType { return c.peerType }

// PeerAddr returns the peer's address: its advertised address once ready,
// the dialled or accepted address before.
func (c *Connection) PeerAddr() gomsgr.EntityAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerAddrLocked()
}

func (c *Connection) peerAddrLocked() gomsgr.EntityAddr {
	return msgrbase.PeerAddr(c.peerAddrs, c.target)
}

// Features returns the Ceph features agreed with the peer.
func (c *Connection) Features() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.features
}

// Messenger returns the messenger the connection belongs to.
func (c *Connection) Messenger() gomsgr.Messenger { return c.msgr }

// Err returns why the connection closed (nil while it is open): a refused
// connect, a ready or idle timeout, a protocol violation from the peer, EOF,
// or ErrMarkedDown. Connection handlers (HandleReset, HandleRefused) can
// tell the cases apart with errors.Is.
func (c *Connection) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// State returns the connection's state name, for dumps and tests.
func (c *Connection) State() string { return stateNames[c.state.Load()] }

// Role returns the side of the current socket's handshake: an accepted
// connection is a server until it reconnects to its peer as a client.
func (c *Connection) Role() session.Role {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.role
}

// Worker returns the id of the worker the connection is pinned to.
func (c *Connection) Worker() int { return c.w.ID() }

// QueueLen returns the number of messages waiting to be written.
func (c *Connection) QueueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len()
}

// --- worker side ---

// connect starts a non-blocking connect (client). Runs on the worker.
func (c *Connection) connect() {
	c.pc.Inc(perf.CreatedConnections)
	c.pc.Inc(perf.ActiveConnections)
	if c.state.Load() != stConnecting || c.fd >= 0 || c.wasReady || c.reconnectTmr.Armed() {
		// Closed, or a socket from the peer took the connection over
		// before this queued connect ran (and may have faulted since).
		return
	}
	c.dial()
}

// dial opens the socket and starts a non-blocking connect to c.target.
func (c *Connection) dial() {
	ap := c.target.Addr
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
	c.pc.Inc(perf.CreatedConnections)
	c.pc.Inc(perf.ActiveConnections)
	c.fd = fd
	c.halfAccepted = true
	c.tuneSocket()
	c.state.Store(stHandshake)
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if err := c.c.AddFile(fd, driver.Readable, c.handleEvent); err != nil {
		c.close(err, true)
		return
	}
	c.startSession()
	c.handleRead() // bytes may have arrived before the add
}

func (c *Connection) tuneSocket() {
	if !c.msgr.opts.NoDelay {
		unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if n := c.msgr.opts.RcvBufBytes; n > 0 {
		unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	}
}

func (c *Connection) startSession() {
	c.iovs = c.msgr.iovs[c.w.ID()]
	c.lastRead = nanotime()
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
	if c.state.Load() == stConnecting {
		errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = unix.Errno(errno)
		}
		if err != nil {
			c.fault(fmt.Errorf("conn: connect %v: %w", c.target.Addr, err))
			return
		}
		if fired&driver.Writable == 0 {
			return // not connected yet
		}
		c.state.Store(stHandshake)
		c.c.DelFile(fd, driver.Writable)
		c.wantWrite = false
		c.startSession()
		fired &^= driver.Writable
	}
	if fired&driver.Writable != 0 && c.state.Load() != stClosed {
		c.handleWrite()
	}
	// A fault in handleWrite may have dropped fd (and dialled anew): the
	// fired mask is then stale.
	if st := c.state.Load(); fired&driver.Readable != 0 && fd == c.fd && (st == stHandshake || st == stReady) {
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
	start := nanotime()
	c.readLoop(now)
	mid := nanotime()
	c.pc.AddTime(perf.RunningRecvTime, time.Duration(mid-start)*time.Duration(c.msgr.opts.SampleEvery))
	c.writeTimed(mid) // replies, acks; flushes the counts
}

// timedRun reports whether this handler run is one that counting times:
// one in Options.SampleEvery, each standing for SampleEvery runs in
// msgr_running_recv_time and msgr_running_send_time. The clock reads of a
// timed run then cost a fraction of a read per run.
func (c *Connection) timedRun() bool {
	if c.pc == nil {
		return false
	}
	t := c.runTick
	c.runTick++
	return t&c.msgr.sampleMask == 0
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
func (c *Connection) readLoop(now int64) {
	if c.rb == nil {
		c.getBuffer()
	}
	defer c.putBuffer()
	if c.wpos > c.r && !c.process() {
		return // bytes left from before a throttle stop
	}
	for c.state.Load() != stClosed && !c.readBlocked {
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
				if p.Tag == msgr2.TagMessage && c.frameHeld == (held{}) && !c.takeThrottles(&p) {
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
			c.msgr.sc.skipped.Add(d)
			c.msgr.opts.Logger.Info("conn: missed message? received seqs skipped some",
				"peer", c.peerName.String(), "skipped", d, "in_seq", c.eng.InSeq())
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
			c.msgr.sc.duplicates.Add(d)
		}
		if n > 0 && c.frameHeld != (held{}) {
			// The frame was consumed without a delivery (a duplicate or
			// an aborted frame): give its budget back.
			c.msgr.putHeld(c, c.takeHeld())
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
	return c.state.Load() != stClosed
}

// lastWords writes, without waiting, the frames the engine queued before it
// failed (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES), so that the peer learns
// why, as Ceph does. Whatever the socket does not take at once is dropped.
func (c *Connection) lastWords() {
	out := c.eng.Output()
	if len(out) == 0 || c.fd < 0 || len(c.parts) > 0 {
		return // nothing to say, or a partial write would interleave
	}
	unix.Write(c.fd, out)
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
	if !c.thr.Msgs.TryGet(1) {
		return false
	}
	if !c.thr.Bytes.TryGet(size) {
		c.thr.Msgs.Put(1)
		return false
	}
	if !c.msgr.dthr.TryGet(size) {
		c.thr.Msgs.Put(1)
		c.thr.Bytes.Put(size)
		return false
	}
	h := held{dispatch: size}
	if c.thr.Msgs != nil {
		h.msgs = 1
	}
	if c.thr.Bytes != nil {
		h.bytes = size
	}
	if c.msgr.dthr == nil {
		h.dispatch = 0
	}
	if h == (held{}) {
		h.dispatch = -1 // marks "taken" even when no throttle is configured
	}
	c.frameHeld = h
	return true
}

// takeHeld hands the current frame's budget to its message.
func (c *Connection) takeHeld() held {
	h := c.frameHeld
	c.frameHeld = held{}
	if h.dispatch < 0 {
		h.dispatch = 0
	}
	return h
}

func (c *Connection) onThrottleRetry() {
	if c.state.Load() == stClosed {
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
	if c.state.Load() == stStandby {
		c.wakeStandby()
		return
	}
	if c.fd < 0 || c.state.Load() == stConnecting || c.state.Load() == stClosed {
		return
	}
	if !c.timedRun() {
		c.writeLoop()
		c.flushCounts()
		return
	}
	c.writeTimed(nanotime())
}

// writeLoopGuarded is handleWrite without counters.
func (c *Connection) writeLoopGuarded() {
	if c.fd < 0 || c.state.Load() == stConnecting || c.state.Load() == stClosed {
		return
	}
	c.writeLoop()
}

// writeTimed writes in a timed run (timedRun), counting the time from
// start (a clock reading the caller already has) as running send time.
func (c *Connection) writeTimed(start int64) {
	if c.fd >= 0 && c.state.Load() != stConnecting && c.state.Load() != stClosed {
		c.writeLoop()
		c.pc.AddTime(perf.RunningSendTime, time.Duration(nanotime()-start)*time.Duration(c.msgr.opts.SampleEvery))
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
				c.c.Post(&c.writeEv)
				return
			}
		}
		n, err := writev(c.fd, c.parts, c.iovs)
		if err == unix.EAGAIN {
			if !c.wantWrite {
				c.wantWrite = true
				c.c.AddFile(c.fd, driver.Writable, c.handleEvent)
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
		c.c.DelFile(c.fd, driver.Writable)
	}
}

// gather collects output into parts: the engine's control frames first,
// then queued messages (highest priority first) once the session is ready,
// then a standalone ACK if messages arrived and none went out.
func (c *Connection) gather() bool {
	if c.state.Load() == stReady {
		c.mu.Lock()
		ka := c.keepalive
		c.keepalive = false
		c.mu.Unlock()
		if ka {
			c.eng.QueueKeepalive(time.Now())
		}
	}
	c.takeControl()
	sent := false
	if c.state.Load() == stReady {
		c.mu.Lock()
		for c.out.Len() > 0 && len(c.parts) < iovMax-8 {
			m, replay := c.popOut()
			c.mu.Unlock()
			if replay {
				c.msgr.sc.replayed.Add(1)
			}
			c.encode(m)
			sent = true
			c.mu.Lock()
		}
		c.mu.Unlock()
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
	it := c.out.PopHighest()
	if it.queued != 0 {
		// A sampled message (Options.SampleEvery): read the clock.
		c.pc.AddTime(perf.SendMessagesQueueLat, time.Duration(max(0, nanotime()-it.queued)))
	}
	return it.m, it.replay
}

func (c *Connection) encode(m *gomsgr.Message) {
	h := m.Header()
	c.eng.PrepareMessage(&h)
	m.Seq = h.Seq // the sent list is trimmed by seq
	f := framePool.Get().(*msgr2.MessageFrame)
	if pc := m.PayloadCRCs(); pc != nil {
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
		if c.lossless && c.state.Load() == stReady {
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
func (c *Connection) Ready(e *session.Engine) {
	name, addrs, _ := e.Peer()
	c.mu.Lock()
	c.peerName, c.peerAddrs, c.features = name, addrs, e.Features()
	if !c.wasReady {
		c.peerType = e.PeerType() // read without the lock: set once
	}
	c.mu.Unlock()
	c.halfAccepted = false
	if !c.wasReady {
		// Once per connection: the dispatch goroutine reads c.thr when it
		// gives budget back, and a session keeps its peer type.
		c.thr = c.msgr.pols.Throttles(e.PeerType())
	}
	c.lossless = !e.Policy().Lossy
	c.state.Store(stReady)
	c.wasReady = true
	c.backoff = 0
	c.publish()
	c.c.CancelTimer(&c.readyTimer)
	c.c.AddTimer(&c.idleTimer, c.msgr.opts.IdleTimeout)
	c.msgr.connReady(c)
}

// Deliver is called by the engine for each received message.
func (c *Connection) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	var own *rxbuf.Buf
	if c.big {
		own, c.bigRB = c.bigRB, nil // the frame has a buffer of its own: hand it over
	}
	m := rxbuf.Message(h, front, middle, data, own)
	m.Src = c.peerName
	m.Conn = c
	m.RecvStamp = center.TimeOf(c.lastRead)
	c.cb.Inc(perf.RecvMessages)
	c.cb.Add(perf.RecvBytes, uint64(m.DispatchBytes))
	if c.delayed != nil || c.msgr.inject.Load() != nil {
		if c.maybeDelay(m) {
			return nil
		}
	}
	c.msgr.deliver(c, m)
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
func (c *Connection) Acked(seq uint64) {
	if c.sentHead == len(c.sent) {
		return
	}
	var start int64
	if c.pc != nil {
		if c.ackTick&c.msgr.sampleMask == 0 {
			start = nanotime()
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
		c.pc.AddTime(perf.HandleAckLat, time.Duration(nanotime()-start))
	}
}

// Unacked returns the number of written messages the peer has not
// acknowledged yet (lossless policies keep them for replay).
func (c *Connection) Unacked() int { return int(c.unacked.Load()) }

func (c *Connection) onReadyTimeout() {
	if st := c.state.Load(); st == stConnecting || st == stHandshake {
		c.pc.Inc(perf.ConnectionReadyTimeouts)
		c.fault(fmt.Errorf("%w (connection %s, session %v, %d bytes unread, %d parts unwritten)", ErrReadyTimeout, stateNames[c.state.Load()], c.eng.State(), c.wpos-c.r, len(c.parts)))
	}
}

func (c *Connection) onIdleTimer() {
	if c.state.Load() != stReady {
		return
	}
	idle := time.Duration(nanotime() - c.lastRead)
	if idle >= c.msgr.opts.IdleTimeout {
		c.pc.Inc(perf.ConnectionIdleTimeouts)
		c.fault(ErrIdleTimeout)
		return
	}
	c.c.AddTimer(&c.idleTimer, c.msgr.opts.IdleTimeout-idle)
}

// close tears the connection down on its worker: socket, timers, queue.
// With notify, the messenger delivers a reset (or refused) event and forgets
// the connection.
func (c *Connection) close(err error, notify bool) {
	prev := c.state.Swap(stClosed)
	if prev == stClosed {
		return
	}
	if c.markedDown.Load() {
		notify = false // a mark-down delivers no event, even racing a fault
	}
	c.faultErr = err
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
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
