package simple

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
)

// Lossless sessions on the connection's goroutine: faults, reconnects,
// backoff, STANDBY and replay (docs/ARCHITECTURE.md, "The lossless state
// machine"; Ceph's ProtocolV2 _fault). The replacement of a session by a
// newer socket from the peer is in replace.go.

// errAborted ends a dial that lost its purpose: the connection closed, or
// a socket from the peer took the session over.
var errAborted = errors.New("simple: connect aborted")

// run is the connection's goroutine. nc is the accepted socket, or nil for
// a client, which dials first. It serves one socket after another until
// the connection closes or its socket moves to another connection.
func (c *Connection) run(nc net.Conn) {
	defer c.msgr.wg.Done()
	defer c.finish()
	var s *socket
	var err error
	if nc != nil {
		s = c.accept(nc)
	} else {
		s, err = c.dial()
	}
	for {
		if s != nil {
			if err = c.serve(s); errors.Is(err, session.ErrReplaced) {
				c.handOver(s)
				return
			}
		}
		if s = c.takeOverPending(); s != nil {
			continue // the peer's newer socket replaces the one that failed
		}
		if s, err = c.recover(c.fault(err)); s == nil && err == nil {
			return // closed
		}
	}
}

// finish releases what the connection's goroutine held as it returns
// (the connection is closed): the unacknowledged and half-written
// messages, a socket handed over too late, the read buffers.
func (c *Connection) finish() {
	c.core.Mu.Lock()
	msgs := append(c.wr.Sent.Take(), c.wr.Drop()...)
	h := c.handoff
	c.handoff = nil
	c.core.Mu.Unlock()
	for _, m := range msgs {
		m.Release()
	}
	if h != nil {
		_ = h.nc.Close() // never used
	}
	c.rd.Reset()
}

// next is what a connection without a socket does after a fault.
type next struct {
	exit    bool          // closed
	standby bool          // wait for something to send, or for the peer
	wait    time.Duration // reconnect after this backoff (0: at once)
}

// fault handles the end of a socket (or a failed dial), in the order of
// Ceph's _fault: a marked-down connection closes without an event; a lossy
// session closes (with a reset or refused event; unlike Ceph, also while
// it connects, so that a lossy client learns at once that its peer is
// unreachable), as does every session once the messenger shuts down; a
// half-accepted connection with nothing queued closes; otherwise the
// session is kept: its unacknowledged messages are requeued and it goes
// to STANDBY (standby policy with nothing to send, server policy, or no
// address to dial), reconnects at once (it was open) or after a backoff.
// The writer has stopped.
func (c *Connection) fault(err error) next {
	m := c.msgr
	c.core.Mu.Lock()
	prev := c.core.St.Load()
	if prev == msgrbase.Closed {
		c.core.Mu.Unlock()
		return next{exit: true}
	}
	m.sh.SC.Faults.Add(1)
	pol, role := c.eng.Policy(), c.core.Role
	closeFor := func(err error, notify bool) next {
		c.core.Mu.Unlock()
		c.close(err, notify)
		return next{exit: true}
	}
	switch {
	case c.core.MarkedDown.Load():
		return closeFor(gomsgr.ErrMarkedDown, false) // a mark-down delivers no event
	case pol.Lossy || m.sh.Stopping():
		return closeFor(err, true)
	case c.halfAccepted && c.core.Out.Len() == 0 && !c.core.Keepalive:
		return closeFor(err, true) // half accepted, nothing queued
	}
	c.requeueLocked()
	queued := c.core.Out.Len() > 0 || c.core.Keepalive
	waited := errors.Is(err, session.ErrWait)
	c.core.Mu.Unlock()
	if role == session.Client && errors.Is(err, syscall.ECONNREFUSED) {
		m.sh.QueueEvent(&c.core, msgrbase.EvRefused)
	}
	if l := m.sh.Logger(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("simple: fault", "peer", c.peerString(), "state", prev.String(), "err", err,
			"queued", queued, "policy", fmt.Sprintf("%+v", pol))
	}
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	if c.core.St.Load() == msgrbase.Closed {
		return next{exit: true} // closed meanwhile (close released the queue)
	}
	if (pol.Standby && !queued && !waited) || pol.Server || c.reconnectAddrLocked().Addr.Port() == 0 {
		c.core.St.Store(msgrbase.Standby)
		m.sh.SC.Standbys.Add(1)
		return next{standby: true}
	}
	c.eng.Faulted()
	c.core.St.Store(msgrbase.Connecting)
	if prev == msgrbase.Ready && !waited {
		c.backoff = 0
		return next{}
	}
	switch {
	case waited:
		c.backoff = m.opts.MaxBackoff
	case c.backoff == 0:
		c.backoff = m.opts.InitialBackoff
	default:
		c.backoff = min(2*c.backoff, m.opts.MaxBackoff)
	}
	return next{wait: c.backoff}
}

func (c *Connection) peerString() string {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	return c.core.Target.String()
}

// requeueLocked puts the unacknowledged messages (the sent list, then
// those being written) back at the front of the highest level, in seq
// order, so that they go out first after a reconnect with the same seqs
// (Ceph's requeue_sent). The writer has stopped; caller holds core.Mu.
func (c *Connection) requeueLocked() {
	all := append(c.wr.Sent.Take(), c.wr.Drop()...)
	if len(all) == 0 {
		return
	}
	for i := len(all) - 1; i >= 0; i-- {
		c.core.Out.PushFront(255, msgrbase.OutItem{M: all[i], Replay: true})
	}
	c.eng.Requeued(len(all))
	c.msgr.sh.SC.Requeued.Add(uint64(len(all)))
}

// reconnectAddrLocked is where a reconnect dials: the address dialled
// before, or for an accepted connection the peer's advertised address.
// Caller holds core.Mu.
func (c *Connection) reconnectAddrLocked() gomsgr.EntityAddr {
	if c.core.Role == session.Client {
		return c.core.Target
	}
	if len(c.core.PeerAddrs) > 0 {
		return c.core.PeerAddrs[0]
	}
	return gomsgr.EntityAddr{}
}

// recover waits as n says (STANDBY, a backoff), then dials the peer again
// for the same session. It returns the next socket to serve (dialled, or
// handed over by the peer), the error of a failed dial, or neither when
// the connection closed.
func (c *Connection) recover(n next) (*socket, error) {
	for !n.exit {
		s, again := c.await(n)
		if s != nil || !again {
			return s, nil
		}
		if c.reconnect() {
			return c.dial()
		}
		// A socket from the peer is on its way to this session: wait for
		// it, and try again after a backoff if it is refused.
		n = next{wait: max(c.backoff, c.msgr.opts.InitialBackoff)}
	}
	return nil, nil
}

// await waits without a socket until the connection closes (nil, false),
// a socket the peer handed over takes the session over (that socket), or
// it is time to reconnect (nil, true): at once or after n.wait, or in
// STANDBY once something is queued and the policy lets this side
// reconnect.
func (c *Connection) await(n next) (*socket, bool) {
	var timeout <-chan time.Time
	if !n.standby && n.wait > 0 {
		t := time.NewTimer(n.wait)
		defer t.Stop()
		timeout = t.C
	}
	due := !n.standby && n.wait == 0
	for {
		c.core.Mu.Lock()
		switch {
		case c.core.St.Load() == msgrbase.Closed:
			c.core.Mu.Unlock()
			return nil, false
		case c.handoff != nil:
			h := c.handoff
			c.handoff = nil
			c.core.Mu.Unlock()
			if s := c.takeOver(h); s != nil {
				return s, false
			}
			continue
		case due:
			c.core.Mu.Unlock()
			return nil, true
		case n.standby && c.wakeStandbyLocked():
			c.core.Mu.Unlock()
			return nil, true
		}
		c.core.Mu.Unlock()
		select {
		case <-c.kick:
		case <-timeout:
			due = true
		}
	}
}

// wakeStandbyLocked reports whether a session in STANDBY reconnects now:
// it has something to send, and the policy does not leave reconnecting to
// the peer. Caller holds core.Mu.
func (c *Connection) wakeStandbyLocked() bool {
	if c.eng.Policy().Server || c.reconnectAddrLocked().Addr.Port() == 0 {
		return false
	}
	if c.core.Out.Len() == 0 && !c.core.Keepalive {
		return false
	}
	c.eng.Faulted()
	return true
}

// reconnect prepares the engine for a new socket of the same session,
// towards the peer's address: it asks for its session back with
// SESSION_RECONNECT once it has a server cookie. False means not now: the
// connection closed, or a socket from the peer is on its way to it.
func (c *Connection) reconnect() bool {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	if c.core.St.Load() == msgrbase.Closed || c.core.MarkedDown.Load() || c.core.Replacing {
		return false
	}
	target := c.reconnectAddrLocked()
	c.core.Target, c.core.Role = target, session.Client
	c.eng.Restart(session.Client, target)
	c.core.St.Store(msgrbase.Connecting)
	c.msgr.sh.SC.Reconnects.Add(1)
	return true
}

// dial connects to c.core.Target and starts the client side of the
// handshake on the new socket. A close, a handover or the ready timer
// cancels it.
func (c *Connection) dial() (*socket, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed || c.handoff != nil {
		c.core.Mu.Unlock()
		return nil, errAborted
	}
	c.beginLocked()
	gen, target := c.gen, c.core.Target
	c.cancelDial = cancel
	c.core.Mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", target.Addr.String())
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	c.cancelDial = nil
	if err == nil && (c.core.St.Load() == msgrbase.Closed || c.handoff != nil || c.gen != gen) {
		_ = nc.Close() // never used
		err = errAborted
	}
	if err != nil {
		if c.sockErr != nil {
			err = c.sockErr // the ready timeout cancelled it
		}
		c.sockErr = nil
		c.gen++
		c.stopTimersLocked()
		return nil, fmt.Errorf("simple: connect %v: %w", target.Addr, err)
	}
	s := c.attachLocked(nc)
	c.eng.Start()
	c.rev = c.eng.Revision()
	return s, nil
}
