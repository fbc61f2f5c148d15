package simple

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
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
	key      msgrbase.AddrKey  // under msgr.mu
	loopback bool
	pc       *perf.Counters // the counters this connection updates (nil on loopback)

	state      atomic.Int32
	markedDown atomic.Bool
	lastRead   atomic.Int64 // unix ns of the last read

	mu         sync.Mutex
	cond       sync.Cond // the writer waits on it for output or close
	eng        *session.Engine
	out        prioq.Queue[qitem]
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
	closeErr   error     // why the connection closed
	writerDone chan struct{}

	// Reader-only.
	rb         *rxbuf.Buf // prefetch buffer, held only while data streams in
	buf        []byte     // current read buffer: small, rb.b or bigRB.b
	onSmall    bool       // buf is small
	lightReads int        // reads in a row that were small and drained the socket
	small      [smallReadBytes]byte
	big        bool       // buf is a frame-sized buffer that its message keeps
	bigRB      *rxbuf.Buf // the frame-sized buffer until a message takes it
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

func newConnection(m *Messenger, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Connection {
	c := &Connection{msgr: m, role: role, peerType: peerType, target: target, writerDone: make(chan struct{})}
	c.cond.L = &c.mu
	c.pc = m.counters()
	c.key = msgrbase.KeyOf(target)
	if role == session.Server {
		c.state.Store(stHandshake)
	}
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
	}
	c.eng = session.New(cfg, (*sink)(c))
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
	prio := prioq.Clamp(msg.Priority)
	c.mu.Lock()
	if c.state.Load() == stClosed || c.markedDown.Load() {
		c.mu.Unlock()
		return gomsgr.ErrClosed
	}
	c.out.Push(prio, qitem{m: msg, queued: nanotime()})
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

// QueueLen returns the number of messages waiting to be written.
func (c *Connection) QueueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len()
}

// lingerTimeout bounds how long a connection that failed on bad input
// tries to write the engine's last frames (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES) before it closes.
const lingerTimeout = time.Second

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
	c.closeErr = err
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
	for c.out.Len() > 0 {
		dropped = append(dropped, c.out.PopHighest().m)
	}
	c.mu.Unlock()
	c.cond.Broadcast()
	// A reader waiting for throttle budget gives up.
	thr.Msgs.wake()
	thr.Bytes.wake()
	c.msgr.dthr.wake()
	if nc != nil {
		nc.Close()
	}
	for _, m := range dropped {
		m.Release()
	}
	c.msgr.connClosed(c, prev, err, notify)
}
