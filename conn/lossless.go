package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
)

// Lossless sessions: faults, reconnects, replay, and the replacement of a
// connection by a newer socket from the same peer (docs/ARCHITECTURE.md,
// "The lossless state machine"; Ceph's ProtocolV2 _fault,
// handle_existing_connection and reuse_connection).

// recovery is a connection's lossless state across sockets (worker-only):
// what the fault path, reconnects and the replacement of its socket by a
// newer one from the same peer need.
type recovery struct {
	lossless    bool          // keep written messages (wr.Sent) until acked
	wasReady    bool          // the session was open once: a fault reconnects it
	backoff     time.Duration // before the next dial, when connecting failed
	reconnectTm center.Timer
	replaceWith *Connection // the existing connection a VerdictReplace chose
}

// SessionStats returns the messenger's session counters.
func (m *Messenger) SessionStats() gomsgr.SessionStats { return m.messengerAPI.SessionStats() }

// publish copies the session fields other connections' decisions read
// into c.sess. Worker only; takes mu.
func (c *Connection) publish() {
	snap := c.eng.Snapshot()
	st := c.core.St.Load().ExState()
	c.core.Mu.Lock()
	snap.State = st
	snap.Replacing = c.core.Replacing
	snap.PeerAddr = c.core.PeerAddrLocked()
	c.sess = snap
	c.core.Mu.Unlock()
}

// SessionIDs returns the session's connect_seq and cookies as the worker
// last published them (for dumps).
func (c *Connection) SessionIDs() (connectSeq, clientCookie, serverCookie uint64) {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	return c.sess.ConnectSeq, c.sess.ClientCookie, c.sess.ServerCookie
}

// Existing is called by the engine of an accepted connection when the
// peer asks for a session (CLIENT_IDENT or SESSION_RECONNECT): it looks up
// the messenger's connection to that peer and decides with Ceph's table.
// A replacement marks the existing connection as being replaced, so that
// no other socket can take it meanwhile.
func (s *sink) Existing(req *session.Request) session.Verdict {
	c := (*Connection)(s)
	ex, v := c.msgr.sh.Existing(&c.core, req, c.eng.Policy().ResetCheck, func(ex *msgrbase.Conn) session.Existing {
		e := ex.Self.(*Connection).sess // published by its worker (publish)
		e.Replacing = ex.Replacing      // live: set by a decision since
		return e
	})
	if ex != nil {
		c.rs.replaceWith = ex.Self.(*Connection)
	}
	return v
}

// Fail closes the connection on its worker with a reset event (a lossy
// session that a newer one replaces; msgrbase.ConnOps).
func (o *ops) Fail(err error) {
	c := (*Connection)(o)
	// An error means the worker stopped: its connections are gone.
	_ = c.c.Submit(func() { c.close(err, true) })
}

// handOver moves this accepted connection's socket to the existing
// connection the decision chose, and ends this connection (Ceph's
// reuse_connection). Runs on c's worker after Feed returned ErrReplaced.
func (c *Connection) handOver() {
	ex := c.rs.replaceWith
	c.rs.replaceWith = nil
	req, v := c.eng.Replacement()
	if err := c.c.DelFile(c.sock.fd, driver.ReadWrite); err != nil {
		// The driver may still report the socket to c: it cannot move
		// safely.
		c.fault(err)
		return
	}
	c.releasePending()
	s := socket{fd: c.sock.Release()} // it moves: close must not close it
	c.cmRecv, c.cmSend = false, false
	c.close(session.ErrReplaced, false)
	c.msgr.sh.InjectDelay()
	c.msgr.sh.SC.Replacements.Add(1)
	eng := c.eng
	move := func() {
		if err := ex.c.Submit(func() { ex.takeOver(s, eng, req, v) }); err != nil {
			ex.core.Mu.Lock()
			ex.core.Replacing = false
			ex.core.Mu.Unlock()
			s.Close()
		}
	}
	if !c.cm {
		move()
		return
	}
	// Completion mode: the socket moves once this worker's driver holds
	// nothing of it (its receive cancelled, a send completed).
	if err := c.c.Quiesce(s.fd, move); err != nil {
		move() // the loop is ending: its ring's teardown ends the requests
	}
}

// takeOver continues c's session on the socket fd of a replaced
// connection whose engine got as far as the session request. Runs on c's
// worker.
func (c *Connection) takeOver(s socket, from *session.Engine, req *session.Request, v session.Verdict) {
	clearReplacing := func() {
		c.core.Mu.Lock()
		c.core.Replacing = false
		c.core.Mu.Unlock()
	}
	if c.core.St.Load() == msgrbase.Closed || c.core.MarkedDown.Load() {
		clearReplacing()
		s.Close()
		return
	}
	c.msgr.sh.InjectDelay()
	// The decision was taken on a snapshot; this session may have moved
	// on since (its own reconnect answered, a reset): decide again on
	// what it is now, and give the socket up unless it is still a
	// replacement (the peer then retries).
	if again := c.redecide(req); again.Kind != session.VerdictReplace {
		clearReplacing()
		c.msgr.opts.Logger.Debug("conn: replacement no longer holds", "peer", c.core.Target.String(), "verdict", again.Kind.String())
		s.Close()
		return
	}
	extra := c.dropSocket()
	c.requeue(extra)
	c.c.CancelTimer(&c.rs.reconnectTm)
	c.sock = s
	c.halfAccepted = false
	c.core.Mu.Lock()
	c.core.Role = session.Server
	c.core.Mu.Unlock()
	c.core.St.Store(msgrbase.Handshake)
	c.iovs = c.msgr.iovs[c.w.ID()]
	c.lastRead = c.c.Now()
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if !c.cm {
		if err := c.c.AddFile(s.fd, driver.Readable, c.handleEvent); err != nil {
			clearReplacing()
			c.fault(err)
			return
		}
	}
	err := c.eng.Resume(from, req, v)
	clearReplacing()
	c.publish()
	if err != nil {
		c.lastWords()
		c.fault(err)
		return
	}
	c.handleWrite()
	if st := c.core.St.Load(); c.sock.fd == s.fd && (st == msgrbase.Handshake || st == msgrbase.Ready) {
		c.handleRead()
	}
}

// redecide runs the decision table for req again on this session as it is
// now. Worker only.
func (c *Connection) redecide(req *session.Request) session.Verdict {
	snap := c.eng.Snapshot()
	snap.State = c.core.St.Load().ExState()
	c.core.Mu.Lock()
	snap.PeerAddr = c.core.PeerAddrLocked()
	c.core.Mu.Unlock()
	return session.Decide(req, &snap, c.msgr.sh.MyAddr(), c.eng.Policy().ResetCheck)
}

// DiscardRequeued drops the requeued messages the peer already received
// (seq <= seq) from the front of the highest level and reports how many,
// and whether that level still holds messages; engine callback.
func (s *sink) DiscardRequeued(seq uint64) (int, bool) {
	c := (*Connection)(s)
	var drop []*gomsgr.Message
	c.core.Mu.Lock()
	for seq > 0 {
		it, ok := c.core.Out.Front(255)
		if !ok || it.M == nil || it.M.Seq == 0 || it.M.Seq > seq {
			break
		}
		c.core.Out.PopLevel(255)
		drop = append(drop, it.M)
	}
	_, left := c.core.Out.Front(255)
	c.core.Mu.Unlock()
	for _, m := range drop {
		m.Release()
	}
	return len(drop), left
}

// ResetSession discards everything queued for the peer and reports a
// remote reset; engine callback (Ceph's reset_session).
func (s *sink) ResetSession() {
	c := (*Connection)(s)
	c.msgr.sh.SC.RemoteResets.Add(1)
	// Messages of the old session still waiting for the dispatcher go
	// too: the application must not see them after the reset event.
	c.msgr.sh.DiscardQueued(&c.core)
	c.c.CancelTimer(&c.inj.delayTmr)
	for i, d := range c.inj.delayed { // held by an injected delay: old session's
		c.inj.delayed[i] = delayedMsg{}
		d.h.Release()
		d.m.Release()
	}
	c.inj.delayed = nil
	c.wr.Sent.Release()
	c.discardOutQueue()
	c.msgr.sh.QueueEvent(&c.core, msgrbase.EvRemoteReset)
}

// dropSocket closes the socket and forgets its input and partial output.
// It returns the messages that were being written (lossless sessions
// requeue them) and releases everything else. Worker only.
func (c *Connection) dropSocket() []*gomsgr.Message {
	c.c.CancelTimer(&c.readyTimer)
	c.c.CancelTimer(&c.idleTimer)
	c.c.CancelTimer(&c.throttleTmr)
	c.c.CancelTimer(&c.stallTmr)
	c.prog.Reset()
	c.msgr.sh.HandshakeDone(&c.core) // an accepted socket's slot
	c.readBlocked = false
	if c.sock.open() {
		// An error leaves an interest the close below ends anyway.
		_ = c.c.DelFile(c.sock.fd, driver.ReadWrite)
		if c.cm {
			c.quiesceSocket()
		} else {
			c.sock.Close()
		}
	}
	c.wantWrite = false
	c.hup = false
	c.rd.Reset() // the input, its buffers and its throttle budget go
	return c.wr.Drop()
}

// requeue puts the unacknowledged messages (the sent list, then extra:
// those being written) back at the front of the highest level, in seq
// order, so that they go out first after a reconnect (Ceph's
// requeue_sent).
func (c *Connection) requeue(extra []*gomsgr.Message) {
	all := append(c.wr.Sent.Take(), extra...)
	if len(all) == 0 {
		return
	}
	c.core.Mu.Lock()
	for i := len(all) - 1; i >= 0; i-- {
		c.core.Out.PushFront(255, msgrbase.OutItem{M: all[i], Replay: true})
	}
	c.core.Mu.Unlock()
	c.eng.Requeued(len(all))
	c.msgr.sh.SC.Requeued.Add(uint64(len(all)))
}

// fault handles a socket or protocol failure, in the order of Ceph's
// _fault: a lossy session closes (with a reset event; unlike Ceph, also
// while it connects: a lossy client learns at once that its peer is
// unreachable, through HandleRefused or HandleReset); a half-accepted
// connection closes; otherwise the session is kept: its unacknowledged
// messages are requeued and it goes to STANDBY (standby policy with
// nothing to send, or server policy), reconnects at once (it was open) or
// after a backoff (it was connecting). Worker only.
func (c *Connection) fault(err error) {
	prev := c.core.St.Load()
	if prev == msgrbase.Closed {
		return
	}
	m := c.msgr
	m.sh.SC.Faults.Add(1)
	pol := c.eng.Policy()
	if c.core.MarkedDown.Load() {
		c.close(gomsgr.ErrMarkedDown, false) // a mark-down delivers no event
		return
	}
	if pol.Lossy || m.isStopping() {
		c.close(err, true)
		return
	}
	if c.halfAccepted && !c.queued() {
		c.close(err, true) // half accepted, nothing queued
		return
	}
	if c.core.Role == session.Client && errors.Is(err, errRefused) {
		m.sh.QueueEvent(&c.core, msgrbase.EvRefused)
	}
	c.requeue(c.dropSocket())
	queued := c.queued()
	waited := errors.Is(err, session.ErrWait)
	if l := m.sh.Logger(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("conn: fault", "peer", c.core.Target.String(), "state", prev.String(), "err", err,
			"queued", queued, "policy", fmt.Sprintf("%+v", pol))
	}
	if (pol.Standby && !queued && !waited) || pol.Server || c.reconnectAddr().Addr.Port() == 0 {
		c.core.St.Store(msgrbase.Standby)
		m.sh.SC.Standbys.Add(1)
		c.publish()
		return
	}
	if prev == msgrbase.Ready && !waited {
		c.rs.backoff = 0
		c.eng.Faulted()
		c.reconnect()
		return
	}
	switch {
	case waited:
		c.rs.backoff = m.opts.MaxBackoff
	case c.rs.backoff == 0:
		c.rs.backoff = m.opts.InitialBackoff
	default:
		c.rs.backoff = min(2*c.rs.backoff, m.opts.MaxBackoff)
	}
	c.eng.Faulted()
	c.core.St.Store(msgrbase.Connecting)
	c.publish()
	c.c.AddTimer(&c.rs.reconnectTm, c.rs.backoff)
}

func (m *Messenger) isStopping() bool { return m.sh.Stopping() }

// reconnectAddr is where a reconnect dials: the address dialled before,
// or for an accepted connection the peer's advertised address.
func (c *Connection) reconnectAddr() gomsgr.EntityAddr {
	if c.core.Role == session.Client {
		return c.core.Target
	}
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	if len(c.core.PeerAddrs) > 0 {
		return c.core.PeerAddrs[0]
	}
	return gomsgr.EntityAddr{}
}

func (c *Connection) onReconnectTimer() { c.reconnect() }

// reconnect dials the peer again for the same session: the engine asks
// for it back with SESSION_RECONNECT once it has a server cookie.
func (c *Connection) reconnect() {
	if c.core.St.Load() == msgrbase.Closed || c.core.MarkedDown.Load() {
		return
	}
	target := c.reconnectAddr()
	c.core.Mu.Lock()
	replacing := c.core.Replacing
	if !replacing {
		c.core.Target, c.core.Role = target, session.Client
	}
	c.core.Mu.Unlock()
	if replacing {
		return // a socket from the peer is on its way to this session
	}
	c.eng.Restart(session.Client, c.core.Target)
	c.core.St.Store(msgrbase.Connecting)
	c.publish()
	c.msgr.sh.SC.Reconnects.Add(1)
	c.dial()
}

// wakeStandby reconnects a session in STANDBY once it has something to
// send, unless the policy leaves reconnecting to the peer.
func (c *Connection) wakeStandby() {
	if c.eng.Policy().Server || c.reconnectAddr().Addr.Port() == 0 {
		return
	}
	if !c.queued() {
		return
	}
	c.eng.Faulted()
	c.reconnect()
}

// queued reports whether messages or a keepalive wait to be sent.
func (c *Connection) queued() bool {
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	return c.core.Out.Len() > 0 || c.core.Keepalive
}

// discardOutQueue releases every queued message (Ceph's discard_out_queue
// for the out-queue; the sent list is releaseSent's).
func (c *Connection) discardOutQueue() {
	for _, m := range c.core.DrainOut() {
		m.Release()
	}
}
