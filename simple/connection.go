package simple

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// epoch anchors nanotime: a monotonic clock reading in ns.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// Connection states.
const (
	stConnecting int32 = iota // client: dialling
	stHandshake               // banner, auth and ident frames
	stReady                   // session open
	stClosed                  // faulted or marked down
)

var stateNames = [...]string{"connecting", "handshake", "ready", "closed"}

// Errors a connection fails with.
var (
	// ErrReadyTimeout: connect + handshake did not finish within
	// Options.ReadyTimeout.
	ErrReadyTimeout = errors.New("simple: connection ready timeout")
	// ErrIdleTimeout: nothing was read for Options.IdleTimeout.
	ErrIdleTimeout = errors.New("simple: connection idle timeout")
	// ErrMarkedDown: the connection was marked down.
	ErrMarkedDown = errors.New("simple: marked down")
)

// lingerTimeout bounds how long a connection that failed on bad input
// tries to write the engine's last frames (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES) before it closes.
const lingerTimeout = time.Second

// maxHandshakeFrameBytes bounds a frame before the session is ready. The
// handshake's frames are small (auth none: a few hundred bytes); without a
// bound, an unauthenticated peer could make the reader allocate a frame of
// up to 4 segments of MaxSegmentBytes.
const maxHandshakeFrameBytes = 64 << 10

// maxBatch bounds the messages one vectored write takes, so that a long
// queue does not delay control frames (acks, keepalive acks) for long.
const maxBatch = 128

// outMsg is a message taken from the out-queue for the current write: its
// header (seq and ack assigned under the lock) and its pooled frame.
type outMsg struct {
	m *gomsgr.Message
	h msgr2.MsgHeader2
	f *msgr2.MessageFrame
}

var framePool = sync.Pool{New: func() any { return new(msgr2.MessageFrame) }}

// Connection is one msgr2 session with a peer, served by two goroutines
// (Ceph's SimpleMessenger Pipe): a reader that dials (client side), then
// reads and feeds the session engine and dispatches, and a writer that
// drains the out-queue into vectored writes. Its exported methods may be
// called from any goroutine.
//
// The session engine, the out-queue and the peer fields are guarded by mu;
// dispatchers run with no lock held.
type Connection struct {
	msgr     *Messenger
	role     session.Role
	peerType gomsgr.EntityType
	target   gomsgr.EntityAddr // the address dialled, or the accepted socket's peer
	key      addrKey           // under msgr.mu
	loopback bool
	pc       *perf.Counters // the counters this connection updates (nil on loopback)

	state      atomic.Int32
	markedDown atomic.Bool
	lastRead   atomic.Int64 // unix ns of the last read

	mu         sync.Mutex
	cond       sync.Cond // the writer waits on it for output or close
	eng        *session.Engine
	out        prioQueue
	keepalive  bool
	peerName   gomsgr.EntityName
	peerAddrs  gomsgr.AddrVec
	features   uint64
	nc         net.Conn
	readyTimer *time.Timer
	idleTimer  *time.Timer
	cancelDial context.CancelFunc
	readyNow   bool      // set by Ready, taken by the reader after Feed
	thr        throttles // the peer type's throttles, set by Ready
	lingerErr  error     // the engine failed: flush its output, then close with it
	writerDone chan struct{}

	// Reader-only.
	rb         *rxBuf // prefetch buffer
	buf        []byte // current read buffer: rb.b or bigRB.b
	big        bool   // buf is a frame-sized buffer that its message keeps
	bigRB      *rxBuf // the frame-sized buffer until a message takes it
	r, w       int
	inbox      []inItem // delivered by the engine during one Feed
	hold       held     // budget taken for the MESSAGE frame at r
	pastBanner bool     // the engine has parsed the banner: frames follow
	wakeWriter bool     // a feed left output: signal the writer
	rev        msgr2.Revision
	maxSegment uint32

	// Writer-only.
	batch []outMsg
	ctrl  []byte
	iov   [][]byte
	bufs  net.Buffers
}

// inItem is a received message and the throttle budget it holds until it
// is dispatched.
type inItem struct {
	m *gomsgr.Message
	h held
}

type addrKey struct {
	ap    netip.AddrPort
	nonce uint32
}

func keyOf(a gomsgr.EntityAddr) addrKey { return addrKey{a.Addr, a.Nonce} }

func newConnection(m *Messenger, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Connection {
	c := &Connection{msgr: m, role: role, peerType: peerType, target: target, writerDone: make(chan struct{})}
	c.cond.L = &c.mu
	c.pc = m.counters()
	c.key = keyOf(target)
	if role == session.Server {
		c.state.Store(stHandshake)
	}
	cfg := session.Config{
		Role:            role,
		Name:            m.opts.Name,
		Addrs:           myAddrs,
		Nonce:           m.nonce,
		PeerType:        peerType,
		PeerAddr:        target,
		Policy:          m.policyFor,
		GlobalSeq:       m.nextGlobalSeq,
		NoRevision1:     m.opts.NoRevision1,
		MaxSegmentBytes: m.opts.MaxSegmentBytes,
		Cookie:          m.nextCookie(),
	}
	c.eng = session.New(cfg, c)
	c.maxSegment = m.opts.MaxSegmentBytes
	if c.maxSegment == 0 {
		c.maxSegment = msgr2.DefaultMaxSegmentBytes
	}
	// The ready timer covers connect and handshake; it starts now, as
	// Ceph's does when the connection is created.
	c.readyTimer = time.AfterFunc(m.opts.ReadyTimeout, c.onReadyTimeout)
	return c
}

// SendMessage queues msg for the peer. The messenger owns msg from now on.
func (c *Connection) SendMessage(msg *gomsgr.Message) error {
	if c.loopback {
		return c.msgr.deliverLoopback(c, msg)
	}
	prio := clampPrio(msg.Priority)
	c.mu.Lock()
	if c.state.Load() == stClosed || c.markedDown.Load() {
		c.mu.Unlock()
		return gomsgr.ErrClosed
	}
	c.out.push(prio, qitem{m: msg, queued: nanotime()})
	c.mu.Unlock()
	c.cond.Signal()
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
	c.cond.Signal()
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
	c.close(ErrMarkedDown, false)
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
func (c *Connection) PeerType() gomsgr.EntityType {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerType
}

// PeerAddr returns the peer's address: its advertised address once ready,
// the dialled or accepted address before.
func (c *Connection) PeerAddr() gomsgr.EntityAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.peerAddrs) > 0 && c.peerAddrs[0].Addr.Port() != 0 {
		return c.peerAddrs[0]
	}
	return c.target
}

// Features returns the Ceph features agreed with the peer.
func (c *Connection) Features() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.features
}

// Messenger returns the messenger the connection belongs to.
func (c *Connection) Messenger() gomsgr.Messenger { return c.msgr }

// State returns the connection's state name, for dumps and tests.
func (c *Connection) State() string { return stateNames[c.state.Load()] }

// QueueLen returns the number of messages waiting to be written.
func (c *Connection) QueueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.n
}

// --- reader goroutine ---

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
	c.mu.Lock()
	if c.state.Load() == stClosed {
		c.mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.state.Store(stHandshake)
	c.eng.Start()
	c.mu.Unlock()

	c.rb = getRx(c.msgr.opts.PrefetchBytes)
	c.buf = c.rb.b
	c.lastRead.Store(time.Now().UnixNano())

	go c.writeLoop(nc)
	c.cond.Signal() // the banner
	c.readLoop(nc)
	<-c.writerDone
	c.hold.release()
	c.dropBig()
	c.rb.put()
	c.rb, c.buf = nil, nil
}

func (c *Connection) dial() net.Conn {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.mu.Lock()
	if c.state.Load() == stClosed {
		c.mu.Unlock()
		return nil
	}
	c.cancelDial = cancel
	c.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.target.Addr.String())
	c.mu.Lock()
	c.cancelDial = nil
	c.mu.Unlock()
	if err != nil {
		c.close(fmt.Errorf("simple: connect %v: %w", c.target.Addr, err), true)
		return nil
	}
	return nc
}

func (c *Connection) tune(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	if c.msgr.opts.NoDelay {
		tc.SetNoDelay(false) // Go enables TCP_NODELAY by default
	}
	if n := c.msgr.opts.RcvBufBytes; n > 0 {
		tc.SetReadBuffer(n)
	}
}

// readLoop reads until the connection closes, feeding the engine.
func (c *Connection) readLoop(nc net.Conn) {
	for {
		if c.w == len(c.buf) {
			c.makeRoom(len(c.buf) + 1)
		}
		n, err := nc.Read(c.buf[c.w:])
		if n > 0 {
			c.w += n
			c.lastRead.Store(time.Now().UnixNano())
			if !c.process(nanotime()) {
				return
			}
		}
		if err != nil {
			c.close(fmt.Errorf("simple: read: %w", err), true)
			return
		}
	}
}

// process feeds buffered bytes to the engine and dispatches what it
// decoded; false means the connection closed. start is when the read
// returned: the time until dispatch counts as RunningRecvTime.
//
// Past the banner, frames are fed one at a time, so that a MESSAGE frame's
// throttle budget is taken (waiting if need be) as soon as its preamble is
// in the buffer, before the rest of it is read or decoded.
func (c *Connection) process(start int64) bool {
	defer c.signalWriter()
	for {
		end, ok := c.frameEnd()
		if !ok {
			return false // closed while waiting for a throttle
		}
		n, need, err := c.feed(c.buf[c.r:end], start)
		if err != nil {
			c.fail(err)
			return false
		}
		if n > 0 && c.hold.taken {
			c.hold.release() // the frame was dropped (a duplicate)
		}
		if end < c.w && n > 0 {
			continue // more frames buffered
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if c.big {
				// The frame-sized buffer was consumed; its message keeps it.
				c.dropBig()
				c.buf = c.rb.b
			}
		}
		if need > maxHandshakeFrameBytes && c.state.Load() != stReady {
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
	if p.Tag == msgr2.TagMessage && !c.hold.taken && c.state.Load() == stReady &&
		(c.thr != (throttles{}) || c.msgr.dthr != nil) {
		n := int64(p.Segments[1].Len) + int64(p.Segments[2].Len) + int64(p.Segments[3].Len)
		c.signalWriter() // replies and acks go out while we may wait
		if !c.hold.take(c.thr, c.msgr.dthr, n, c) {
			return 0, false
		}
	}
	return end, true
}

// feed runs the engine on b under the lock, then, with the lock released,
// reports readiness and dispatches the messages it decoded.
func (c *Connection) feed(b []byte, start int64) (n, need int, err error) {
	c.mu.Lock()
	n, need, err = c.eng.Feed(b)
	ready := c.readyNow
	c.readyNow = false
	c.pastBanner = c.eng.State() != session.StateBanner
	c.rev = c.eng.Revision()
	wake := c.pendingLocked() // control frames, an ack, or messages queued before ready
	c.mu.Unlock()
	c.r += n
	c.pc.AddTime(perf.RunningRecvTime, time.Duration(nanotime()-start))
	// Dispatch with no lock held: a fast dispatcher may send on c.
	if ready {
		c.msgr.connReady(c)
	}
	for i, in := range c.inbox {
		c.inbox[i] = inItem{}
		c.msgr.deliver(c, in.m, in.h)
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
	c.mu.Lock()
	if c.state.Load() == stClosed || c.nc == nil || len(c.eng.Output()) == 0 {
		c.mu.Unlock()
		c.close(err, true)
		return
	}
	c.lingerErr = err
	c.nc.SetWriteDeadline(time.Now().Add(lingerTimeout)) // also ends a write in progress
	c.mu.Unlock()
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
	if need <= len(c.rb.b) {
		copy(c.rb.b, c.buf[c.r:c.w])
		c.buf, c.big = c.rb.b, false
	} else {
		// A frame larger than the prefetch buffer: read it into a pooled
		// buffer of its own, which its message keeps (no copy of the
		// payload). need is bounded by Options.MaxSegmentBytes per segment.
		rb := getRx(need)
		copy(rb.b, c.buf[c.r:c.w])
		c.buf, c.big, c.bigRB = rb.b, true, rb
	}
	if old != nil {
		old.put()
	}
	c.r, c.w = 0, pending
}

// dropBig leaves the frame-sized buffer, returning it to the pool unless a
// message took it.
func (c *Connection) dropBig() {
	if c.bigRB != nil {
		c.bigRB.put()
	}
	c.big, c.bigRB = false, nil
}

// --- session.Sink, called by the engine inside Feed with c.mu held ---

// Ready is called by the engine when the handshake completes. Not for
// applications.
func (c *Connection) Ready(e *session.Engine) {
	name, addrs, _ := e.Peer()
	c.peerName, c.peerAddrs, c.features = name, addrs, e.Features()
	c.peerType = e.PeerType()
	c.state.Store(stReady)
	c.readyNow = true
	c.thr = c.msgr.throttlesFor(c.peerType)
	c.readyTimer.Stop()
	c.idleTimer = time.AfterFunc(c.msgr.opts.IdleTimeout, c.onIdleTimer)
}

// Deliver is called by the engine for each received message; the message
// is dispatched once Feed returns and the lock is released. Not for
// applications.
func (c *Connection) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	m := gomsgr.GetMessage()
	m.Type, m.Priority, m.Version, m.CompatVersion = h.Type, h.Priority, h.Version, h.CompatVersion
	m.Tid, m.Seq = h.Tid, h.Seq
	m.Src = c.peerName
	m.Conn = c
	m.RecvStamp = time.Unix(0, c.lastRead.Load())
	total := len(front) + len(middle) + len(data)
	m.DispatchBytes = total
	c.pc.Inc(perf.RecvMessages)
	c.pc.Add(perf.RecvBytes, uint64(total)) // payload bytes, as conn counts them
	if c.big && c.bigRB != nil {
		// The frame has a buffer of its own: hand it over.
		m.Front, m.Middle, m.Data = front, middle, data
		m.SetReleaser(releaseRx, c.bigRB)
		c.bigRB = nil
	} else {
		rb := getRx(total)
		b := rb.b
		copy(b, front)
		copy(b[len(front):], middle)
		copy(b[len(front)+len(middle):], data)
		f, mi := len(front), len(front)+len(middle)
		if len(front) > 0 {
			m.Front = b[:f:f]
		}
		if len(middle) > 0 {
			m.Middle = b[f:mi:mi]
		}
		if len(data) > 0 {
			m.Data = b[mi:total:total]
		}
		m.SetReleaser(releaseRx, rb)
	}
	c.inbox = append(c.inbox, inItem{m: m, h: c.hold})
	c.hold = held{}
	return nil
}

// Acked is called by the engine when the peer acknowledges messages. Not
// for applications.
func (c *Connection) Acked(uint64) {}

// --- writer goroutine ---

// writeLoop writes the engine's control frames and queued messages until
// the connection closes.
func (c *Connection) writeLoop(nc net.Conn) {
	defer close(c.writerDone)
	for c.gather() {
		start := nanotime()
		n, err := c.bufs.WriteTo(nc)
		c.pc.AddTime(perf.RunningSendTime, time.Duration(nanotime()-start))
		c.pc.Add(perf.SendBytes, uint64(n))
		c.finishBatch()
		c.mu.Lock()
		lingerErr, more := c.lingerErr, len(c.eng.Output()) > 0
		c.mu.Unlock()
		if lingerErr != nil && (err != nil || !more) {
			// The engine's last frames are out (or the deadline passed).
			c.close(lingerErr, true)
			return
		}
		if err != nil {
			c.close(fmt.Errorf("simple: write: %w", err), true)
			return
		}
	}
}

// pendingLocked reports whether the writer has something to do. Caller
// holds mu.
func (c *Connection) pendingLocked() bool {
	if c.state.Load() == stClosed || c.lingerErr != nil || len(c.eng.Output()) > 0 {
		return true
	}
	return c.state.Load() == stReady && (c.out.n > 0 || c.keepalive || c.eng.AckPending())
}

// gather waits for output and lays it out in c.bufs: the engine's control
// frames first, then queued messages (highest priority first) once the
// session is ready, or a standalone ACK if messages arrived and none goes
// out. Payloads are referenced, not copied. False means the connection
// closed.
func (c *Connection) gather() bool {
	c.mu.Lock()
	for !c.pendingLocked() {
		c.cond.Wait()
	}
	if c.state.Load() == stClosed {
		c.mu.Unlock()
		return false
	}
	c.ctrl = c.ctrl[:0]
	c.iov = c.iov[:0]
	if c.lingerErr != nil {
		// Only the failed engine's last frames go out.
		c.takeControl()
		c.bufs = c.iov
		c.mu.Unlock()
		return true
	}
	ready := c.state.Load() == stReady
	if ready && c.keepalive {
		c.keepalive = false
		c.eng.QueueKeepalive(time.Now())
	}
	c.takeControl()
	if ready {
		now := nanotime()
		for c.out.n > 0 && len(c.batch) < maxBatch {
			it := c.out.popHighest()
			m := it.m
			c.pc.AddTime(perf.SendMessagesQueueLat, time.Duration(now-it.queued))
			c.pc.Inc(perf.SendMessages)
			c.batch = append(c.batch, outMsg{m: m, h: m.Header()})
			c.eng.PrepareMessage(&c.batch[len(c.batch)-1].h)
		}
		if len(c.batch) == 0 && c.eng.AckPending() {
			c.eng.QueueAck()
			c.takeControl()
		}
	}
	rev := c.eng.Revision()
	c.mu.Unlock()
	// Encode (crc the payloads) outside the lock: the reader keeps going.
	for i := range c.batch {
		o := &c.batch[i]
		o.f = framePool.Get().(*msgr2.MessageFrame)
		o.f.Encode(rev, &o.h, o.m.Front, o.m.Middle, o.m.Data)
		c.iov = o.f.Iovecs(c.iov)
	}
	c.bufs = c.iov
	return true
}

// takeControl moves the engine's output into ctrl (the engine reuses its
// buffer) and adds it to the write. Caller holds mu.
func (c *Connection) takeControl() {
	out := c.eng.Output()
	if len(out) == 0 {
		return
	}
	start := len(c.ctrl)
	c.ctrl = append(c.ctrl, out...)
	c.eng.Advance(len(out))
	c.iov = append(c.iov, c.ctrl[start:len(c.ctrl):len(c.ctrl)])
}

// finishBatch releases the messages of the last write (lossy: written is
// done; lossless sessions would keep them until acked, which needs session
// reconnect first) and returns their frames to the pool.
func (c *Connection) finishBatch() {
	for i := range c.batch {
		o := &c.batch[i]
		if o.f != nil {
			framePool.Put(o.f)
		}
		o.m.Release()
		*o = outMsg{}
	}
	c.batch = c.batch[:0]
	clear(c.iov[:cap(c.iov)])
}

// --- timers and teardown ---

func (c *Connection) onReadyTimeout() {
	c.closeIf(ErrReadyTimeout, true, func(st int32) bool {
		if st == stReady {
			return false
		}
		c.pc.Inc(perf.ConnectionReadyTimeouts)
		return true
	})
}

// onIdleTimer closes the connection if nothing was read for IdleTimeout,
// or re-arms for the rest (reads do not touch the timer).
func (c *Connection) onIdleTimer() {
	idle := c.msgr.opts.IdleTimeout
	c.closeIf(ErrIdleTimeout, true, func(int32) bool {
		since := time.Duration(time.Now().UnixNano() - c.lastRead.Load())
		if since < idle {
			c.idleTimer.Reset(idle - since)
			return false
		}
		c.pc.Inc(perf.ConnectionIdleTimeouts)
		return true
	})
}

// close tears the connection down from any goroutine: it closes the socket
// (which ends the reader and the writer), stops the timers and releases the
// queued messages. With notify, the messenger delivers a reset (or refused)
// event. Only the first call acts.
func (c *Connection) close(err error, notify bool) { c.closeIf(err, notify, nil) }

// closeIf is close if cond (nil: always) holds for the state under the
// lock, so that a timer that fires as the handshake completes cannot close
// a session that just became ready.
func (c *Connection) closeIf(err error, notify bool, cond func(state int32) bool) {
	c.mu.Lock()
	st := c.state.Load()
	if st == stClosed || (cond != nil && !cond(st)) {
		c.mu.Unlock()
		return
	}
	prev := st
	c.state.Store(stClosed)
	c.eng.Close(err)
	c.readyTimer.Stop()
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.cancelDial != nil {
		c.cancelDial()
	}
	nc := c.nc
	thr := c.thr
	var dropped []*gomsgr.Message
	for c.out.n > 0 {
		dropped = append(dropped, c.out.popHighest().m)
	}
	c.mu.Unlock()
	c.cond.Broadcast()
	// A reader waiting for throttle budget gives up.
	thr.msgs.wake()
	thr.bytes.wake()
	c.msgr.dthr.wake()
	if nc != nil {
		nc.Close()
	}
	for _, m := range dropped {
		m.Release()
	}
	c.msgr.connClosed(c, prev, err, notify)
}
