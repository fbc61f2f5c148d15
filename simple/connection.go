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

// Connection is one msgr2 session with a peer, served by two goroutines
// (Ceph's SimpleMessenger Pipe): a reader that dials (client side), then
// reads and feeds the session engine and dispatches, and a writer that
// drains the out-queue into vectored writes. It implements
// gomsgr.Connection; its methods may be called from any goroutine.
//
// The session engine, the out-queue and the peer fields are guarded by
// core.Mu; dispatchers run with no lock held.
type Connection struct {
	api
	core msgrbase.Conn
	msgr *Messenger

	lastRead atomic.Int64 // loop-clock reading (clock.Instant) of the last read

	cond       sync.Cond // on core.Mu: the writer waits on it for output or close
	eng        *session.Engine
	nc         net.Conn
	readyTimer *time.Timer
	idleTimer  *time.Timer
	cancelDial context.CancelFunc
	readyNow   bool  // set by Ready, taken by the reader after Feed
	lingerErr  error // the engine failed: flush its output, then close with it
	writerDone chan struct{}

	// Reader-only.
	isClosed   func() bool    // c.closed, bound once (a method value per wait would allocate)
	rd         framing.Reader // received bytes into frames (and its throttle budget)
	inbox      []inItem       // delivered by the engine during one Feed
	wakeWriter bool           // a feed left output: signal the writer
	rev        msgr2.Revision // the engine's, as the last feed left it

	// Writer-only.
	wr    framing.Writer
	batch []outMsg
	bufs  net.Buffers // the buffers of a write (reused)
	wbufs net.Buffers // what WriteTo consumes of bufs
}

var _ gomsgr.Connection = (*Connection)(nil)

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
	c := &Connection{msgr: m, writerDone: make(chan struct{})}
	c.api = msgrbase.NewAPI(&c.core)
	c.core.Init(&m.sh, (*ops)(c), c, role, peerType, target)
	c.cond.L = &c.core.Mu
	c.isClosed = c.closed
	c.core.PC = m.counters()
	if role == session.Server {
		c.core.St.Store(msgrbase.Handshake)
	}
	cfg := session.Config{
		Role:            role,
		Name:            m.opts.Name,
		Addrs:           myAddrs,
		Nonce:           m.sh.Nonce(),
		PeerType:        peerType,
		PeerAddr:        target,
		Policy:          m.sh.Pols.Policy,
		GlobalSeq:       m.sh.GSeq.Next,
		MaxSegmentBytes: m.opts.MaxSegmentBytes,
	}
	if h := m.opts.Testing; h != nil {
		cfg.NoRevision1, cfg.Step = h.NoRevision1, h.Step
	}
	c.eng = session.New(cfg, (*sink)(c))
	c.rd.Init(framing.ReaderConfig{PrefetchBytes: m.opts.PrefetchBytes, MaxSegmentBytes: m.opts.MaxSegmentBytes, SmallIdle: true, Prefix: "simple"})
	// The ready timer covers connect and handshake; it starts now, as
	// Ceph's does when the connection is created.
	c.readyTimer = time.AfterFunc(m.opts.ReadyTimeout, c.onReadyTimeout)
	return c
}

// Wake signals the writer: output was queued (msgrbase.ConnOps).
func (o *ops) Wake() error {
	o.cond.Signal()
	return nil
}

// MarkDown closes the connection (msgrbase.ConnOps).
func (o *ops) MarkDown() { (*Connection)(o).close(gomsgr.ErrMarkedDown, false) }

// SendMessage queues msg for the peer. The messenger owns msg from now on.
func (c *Connection) SendMessage(msg *gomsgr.Message) error { return c.core.Send(msg) }

// State returns the connection's state name, for dumps and tests.
func (c *Connection) State() string { return c.core.St.Load().String() }

// lingerTimeout bounds how long a connection that failed on bad input
// tries to write the engine's last frames (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES) before it closes.
const lingerTimeout = time.Second

func (c *Connection) onReadyTimeout() {
	c.closeIf(gomsgr.ErrReadyTimeout, true, func(st msgrbase.State) bool {
		if st == msgrbase.Ready {
			return false
		}
		c.core.PC.Inc(perf.ConnectionReadyTimeouts)
		return true
	})
}

// onIdleTimer closes the connection if nothing was read for IdleTimeout,
// or re-arms for the rest (reads do not touch the timer).
func (c *Connection) onIdleTimer() {
	idle := c.msgr.opts.IdleTimeout
	c.closeIf(gomsgr.ErrIdleTimeout, true, func(msgrbase.State) bool {
		since := clock.Since(clock.Instant(c.lastRead.Load()))
		if since < idle {
			c.idleTimer.Reset(idle - since)
			return false
		}
		c.core.PC.Inc(perf.ConnectionIdleTimeouts)
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
func (c *Connection) closeIf(err error, notify bool, cond func(state msgrbase.State) bool) {
	c.core.Mu.Lock()
	st := c.core.St.Load()
	if st == msgrbase.Closed || (cond != nil && !cond(st)) {
		c.core.Mu.Unlock()
		return
	}
	prev := c.core.SetClosedLocked(err)
	c.eng.Close(err)
	c.readyTimer.Stop()
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.cancelDial != nil {
		c.cancelDial()
	}
	nc := c.nc
	thr := c.core.Thr
	dropped := c.core.DrainOutLocked()
	c.core.Mu.Unlock()
	c.cond.Broadcast()
	// A reader waiting for throttle budget gives up.
	thr.Msgs.Wake()
	thr.Bytes.Wake()
	c.msgr.sh.DThr.Wake()
	if nc != nil {
		_ = nc.Close() // ends the reader and the writer; nothing to do about an error
	}
	for _, m := range dropped {
		m.Release()
	}
	c.msgr.connClosed(c, prev, err, notify)
}
