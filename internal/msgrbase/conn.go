package msgrbase

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/msgint"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// ConnOps is what differs between the messengers' connections, as the
// shell calls it. The implementations put these methods on an unexported
// type, so that they stay out of their Connection's API.
type ConnOps interface {
	// Wake tells the connection's owner that output was queued. An error
	// means the owner will never write it (its loop stopped).
	Wake() error
	// MarkDown closes the connection on its owner, discarding its queues,
	// with no event (MarkedDown is already set).
	MarkDown()
	// Fail closes the connection on its owner with err and a reset event
	// (a lossy session that a newer one from the same peer replaces).
	Fail(err error)
}

// OutItem is one entry of a connection's out-queue.
type OutItem struct {
	M      *gomsgr.Message
	Queued clock.Instant // when queued, for a sampled message (else 0)
	Replay bool          // written before a fault, requeued for replay
}

// Conn is the part of a connection both messengers share: identity, state,
// the out-queue senders fill, what the handshake learned about the peer,
// and why it closed. The messenger's Connection keeps one in a field and
// exposes it through API.
//
// Lock order: Shell.mu before Conn.Mu.
type Conn struct {
	Shell    *Shell
	Ops      ConnOps
	Self     gomsgr.Connection // the implementation's connection: events and Message.Conn carry it
	Loopback bool              // the messenger's connection to itself
	PC       *perf.Counters    // the counters it updates (nil: counting off, or loopback)

	St         StateVar
	MarkedDown atomic.Bool // set at once by MarkDown; the owner closes later
	// inSeq and outSeq are the session's sequence numbers as the owner
	// last published them (PublishSeqs), for dumps.
	inSeq, outSeq atomic.Uint64
	// handshaking: an accepted connection holding a handshake slot
	// (Shell.AdmitAccepted) until it is ready or closed.
	handshaking atomic.Bool

	Mu        sync.Mutex
	Role      session.Role      // under Mu: the current socket's side
	Target    gomsgr.EntityAddr // under Mu: dialled, or the accepted socket's peer
	PeerT     gomsgr.EntityType // under Mu (the owner reads it freely)
	PeerName  gomsgr.EntityName // under Mu, known once ready
	PeerAddrs gomsgr.AddrVec    // under Mu, known once ready
	Features  uint64            // under Mu
	Sec       gomsgr.Security   // under Mu, known once ready
	// sealed is set while the session is in secure mode: its frames carry
	// no crcs, so Send does not compute them (the writer does, should a
	// later socket agree on crc mode).
	sealed    atomic.Bool
	Out       prioq.Queue[OutItem]
	Keepalive bool // under Mu: a KEEPALIVE2 is asked for
	// Replacing is set (under Mu) while a socket from the peer is on its
	// way to this session (a replace verdict): no other socket may take
	// the session meanwhile, and it does not reconnect itself.
	Replacing bool
	closeErr  error // under Mu
	changed   chan struct{}
	sendTick  uint32 // under Mu: picks the sampled messages

	key AddrKey // under Shell.mu: where the registry has it
	Thr Throttles
	// fastTick picks the sampled fast dispatches; owner only.
	fastTick uint32
	// Labels are the owner's pprof label sets (nil: none).
	Labels *Labels
}

// Labels are a worker's pprof label sets: its own, and its own plus the
// messenger and "fast dispatch" while a fast dispatcher runs.
type Labels struct {
	Worker, Fast context.Context
}

// Init sets up a connection of shell s to target.
func (c *Conn) Init(s *Shell, ops ConnOps, self gomsgr.Connection, role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr) {
	c.Shell, c.Ops, c.Self = s, ops, self
	c.Role, c.PeerT, c.Target = role, peerType, target
	c.key = KeyOf(target)
}

// Open reports whether the connection may still be used: not closed and
// not marked down.
func (c *Conn) Open() bool { return c.St.Load() != Closed && !c.MarkedDown.Load() }

// Send queues msg (Connection.SendMessage). The payload crcs are computed
// here, on the sender's goroutine: the writer then only encodes the header.
func (c *Conn) Send(msg *gomsgr.Message) error {
	msgint.CheckLive(msg, "SendMessage")
	if c.Loopback {
		return c.Shell.deliverLoopback(c, msg)
	}
	prio := prioq.Clamp(msg.Priority)
	if !c.sealed.Load() {
		msgint.SetPayloadCRCs(msg, msgr2.ComputePayloadCRCs(msg.Front, msg.Middle, msg.Data))
	}
	msg.Seq = 0 // assigned when written; a requeued message keeps its own
	c.Mu.Lock()
	if !c.Open() {
		c.Mu.Unlock()
		return gomsgr.ErrClosed
	}
	var queued clock.Instant
	if c.PC != nil {
		if c.sendTick&c.Shell.sampleMask == 0 {
			queued = clock.Now()
		}
		c.sendTick++
	}
	c.Out.Push(prio, OutItem{M: msg, Queued: queued})
	c.Mu.Unlock()
	if err := c.Ops.Wake(); err != nil {
		// The owner stopped: the message would wait forever. Take it
		// back if it is still queued; it is the caller's again.
		c.Mu.Lock()
		c.Out.Remove(func(it OutItem) bool { return it.M == msg })
		c.Mu.Unlock()
		return err
	}
	return nil
}

// SendKeepalive queues a KEEPALIVE2 frame.
func (c *Conn) SendKeepalive() error {
	if c.Loopback {
		return nil
	}
	c.Mu.Lock()
	if c.St.Load() == Closed {
		c.Mu.Unlock()
		return gomsgr.ErrClosed
	}
	c.Keepalive = true
	c.Mu.Unlock()
	return c.Ops.Wake()
}

// MarkDown is Connection.MarkDown: forget the connection, then close it on
// its owner with no event (as in Ceph).
func (c *Conn) MarkDown() {
	c.Shell.Unregister(c)
	if c.Loopback {
		return
	}
	c.MarkedDown.Store(true)
	c.Ops.MarkDown()
}

// Queued reports whether messages or a keepalive wait to be sent.
func (c *Conn) Queued() bool {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.Out.Len() > 0 || c.Keepalive
}

// PeerAddrLocked is the peer's address as PeerAddr reports it. Caller
// holds Mu.
func (c *Conn) PeerAddrLocked() gomsgr.EntityAddr { return PeerAddr(c.PeerAddrs, c.Target) }

// SetReady records what the handshake learned and wakes WaitReady. Owner
// only; takes Mu.
func (c *Conn) SetReady(e *session.Engine) {
	c.Mu.Lock()
	c.SetReadyLocked(e)
	c.Mu.Unlock()
}

// SetReadyLocked is SetReady for a caller that holds Mu.
func (c *Conn) SetReadyLocked(e *session.Engine) {
	name, addrs, _ := e.Peer()
	c.PeerName, c.PeerAddrs, c.Features = name, addrs, e.Features()
	c.Sec = gomsgr.Security{Method: e.AuthMethod().String(), Mode: e.ConMode().String(), Entity: e.AuthPeer()}
	c.sealed.Store(e.ConMode() == msgr2.ConModeSecure)
	c.PeerT = e.PeerType()
	c.St.Store(Ready)
	c.notifyLocked()
}

// SetClosed moves the connection to Closed with cause err and wakes
// WaitReady; it returns the state before, Closed if it was closed already
// (then nothing changes). Takes Mu.
func (c *Conn) SetClosed(err error) State {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.SetClosedLocked(err)
}

// SetClosedLocked is SetClosed for a caller that holds Mu.
func (c *Conn) SetClosedLocked(err error) State {
	prev := c.St.Swap(Closed)
	if prev == Closed {
		return Closed
	}
	c.closeErr = err
	c.notifyLocked()
	return prev
}

// DrainOut empties the out-queue and returns its messages (to release
// outside the lock).
func (c *Conn) DrainOut() []*gomsgr.Message {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.DrainOutLocked()
}

// DrainOutLocked is DrainOut for a caller that holds Mu.
func (c *Conn) DrainOutLocked() []*gomsgr.Message {
	var out []*gomsgr.Message
	for c.Out.Len() > 0 {
		out = append(out, c.Out.PopHighest().M)
	}
	return out
}

func (c *Conn) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// API is a connection's gomsgr.Connection methods that both messengers
// share. A Connection embeds it through an unexported alias, so that only
// these methods are promoted.
type API struct{ c *Conn }

// NewAPI returns c's API.
func NewAPI(c *Conn) API { return API{c} }

// SendKeepalive queues a KEEPALIVE2 frame.
func (a API) SendKeepalive() error { return a.c.SendKeepalive() }

// MarkDown closes the connection and discards its queue. No reset event is
// delivered (as in Ceph).
func (a API) MarkDown() { a.c.MarkDown() }

// IsConnected reports whether the session is open.
func (a API) IsConnected() bool {
	return a.c.Loopback || (a.c.St.Load() == Ready && !a.c.MarkedDown.Load())
}

// WaitReady waits until the session is open (nil), the connection closed
// (its cause), or ctx ends (ctx.Err()).
func (a API) WaitReady(ctx context.Context) error {
	c := a.c
	if c.Loopback {
		return nil
	}
	for {
		c.Mu.Lock()
		st := c.St.Load()
		switch {
		case st == Closed:
			err := c.closeErr
			c.Mu.Unlock()
			if err == nil {
				err = gomsgr.ErrClosed
			}
			return err
		case st == Ready && !c.MarkedDown.Load():
			c.Mu.Unlock()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.Mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Err returns why the connection closed (nil while it is open).
func (a API) Err() error {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.closeErr
}

// PeerName returns the peer's entity name (known once ready).
func (a API) PeerName() gomsgr.EntityName {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.PeerName
}

// PeerType returns the peer's entity type.
func (a API) PeerType() gomsgr.EntityType {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.PeerT
}

// PeerAddr returns the peer's address: its advertised address once ready,
// the dialled or accepted address before.
func (a API) PeerAddr() gomsgr.EntityAddr {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.PeerAddrLocked()
}

// Features returns the Ceph features agreed with the peer.
func (a API) Features() uint64 {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.Features
}

// Security says how the session was authenticated and protected.
func (a API) Security() gomsgr.Security {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.Sec
}

// Messenger returns the messenger the connection belongs to.
func (a API) Messenger() gomsgr.Messenger { return a.c.Shell.self }

// State returns the connection's state name (connecting, handshake,
// ready, standby, closed), for dumps and tests.
func (a API) State() string { return a.c.St.Load().String() }

// Role returns the side of the current socket's handshake ("client" or
// "server"): an accepted connection is a server until it reconnects to its
// peer as a client.
func (a API) Role() string {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.Role.String()
}

// QueueLen returns the number of messages waiting to be written.
func (a API) QueueLen() int {
	a.c.Mu.Lock()
	defer a.c.Mu.Unlock()
	return a.c.Out.Len()
}

// PublishSeqs records the session's in_seq and out_seq for Seqs (dumps);
// the connection's owner calls it after reading and writing.
func (c *Conn) PublishSeqs(in, out uint64) {
	if c.inSeq.Load() != in {
		c.inSeq.Store(in)
	}
	if c.outSeq.Load() != out {
		c.outSeq.Store(out)
	}
}

// Seqs returns what PublishSeqs last recorded; any goroutine may call it.
func (c *Conn) Seqs() (in, out uint64) { return c.inSeq.Load(), c.outSeq.Load() }
