package simple

import (
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
)

// The replacement of a session by a newer socket from the same peer
// (Ceph's handle_existing_connection and reuse_connection): the accepting
// connection's engine asks Existing, which decides with session.Decide;
// on a replace verdict the accepting connection hands its socket over
// (handOver) and the existing connection's goroutine resumes the session
// on it (takeOver).

// snapshotLocked is what other connections' decisions need to know about
// this session. The engine is under core.Mu, so the snapshot is taken
// from it when asked rather than published ahead (conn's publish). Caller
// holds core.Mu.
func (c *Connection) snapshotLocked() session.Existing {
	snap := c.eng.Snapshot()
	snap.State = c.core.St.Load().ExState()
	snap.Replacing = c.core.Replacing
	snap.PeerAddr = c.core.PeerAddrLocked()
	if c.core.MarkedDown.Load() {
		snap.State = session.ExClosed
	}
	return snap
}

// Existing is called by the engine of an accepted connection (inside Feed,
// core.Mu held) when the peer asks for a session (CLIENT_IDENT or
// SESSION_RECONNECT): it looks up the messenger's connection to that peer
// and decides with Ceph's table. A replacement marks the existing
// connection as being replaced, so that no other socket can take it
// meanwhile.
func (s *sink) Existing(req *session.Request) session.Verdict {
	c := (*Connection)(s)
	ex, v := c.msgr.sh.Existing(&c.core, req, c.eng.Policy().ResetCheck, func(ex *msgrbase.Conn) session.Existing {
		return ex.Self.(*Connection).snapshotLocked()
	})
	if ex != nil {
		c.replaceWith = ex.Self.(*Connection)
	}
	return v
}

// handOver moves this accepted connection's socket to the existing
// connection the decision chose, and ends this connection without an
// event (Ceph's reuse_connection). Runs on c's goroutine after Feed
// returned ErrReplaced; the writer has stopped and the socket is open.
// The bytes read past the request are dropped, as conn drops them: the
// peer sends nothing more before the answer.
func (c *Connection) handOver(s *socket) {
	c.core.Mu.Lock()
	ex := c.replaceWith
	c.replaceWith = nil
	req, v := c.eng.Replacement()
	c.core.Mu.Unlock()
	c.close(session.ErrReplaced, false) // the socket is no longer c's: close leaves it
	c.msgr.sh.InjectDelay()
	c.msgr.sh.SC.Replacements.Add(1)
	ex.receive(&handoff{nc: s.nc, from: c.eng, req: req, v: v})
}

// receive gives the existing connection the socket h of its peer: its
// goroutine takes the session over (takeOver) once the current socket or
// dial, if any, has been given up.
func (c *Connection) receive(h *handoff) {
	c.core.Mu.Lock()
	if c.core.St.Load() == msgrbase.Closed || c.core.MarkedDown.Load() {
		c.core.Replacing = false
		c.core.Mu.Unlock()
		_ = h.nc.Close() // the session is gone: the peer starts over
		return
	}
	old := c.handoff
	c.handoff = h
	cancel, s := c.cancelDial, c.sock
	c.core.Mu.Unlock()
	if old != nil {
		_ = old.nc.Close() // superseded (Replacing makes this unexpected)
	}
	if cancel != nil {
		cancel()
	}
	if s != nil {
		c.interrupt(s)
	}
	c.wake()
}

// takeOverPending takes the session over on a socket the peer handed over
// meanwhile, if any (nil if none, or if it was refused).
func (c *Connection) takeOverPending() *socket {
	c.core.Mu.Lock()
	h := c.handoff
	c.handoff = nil
	c.core.Mu.Unlock()
	if h == nil {
		return nil
	}
	return c.takeOver(h)
}

// takeOver continues c's session on the socket of a replaced connection
// whose engine got as far as the session request: what the peer did not
// acknowledge is requeued and the engine resumes as the server side
// (SERVER_IDENT or RECONNECT_OK). The decision was taken on an earlier
// snapshot; if the session closed or a decision on what it is now no
// longer says replace, the socket is given up (the peer retries) and nil
// returned. Runs on c's goroutine, without a socket.
func (c *Connection) takeOver(h *handoff) *socket {
	c.msgr.sh.InjectDelay()
	me := c.msgr.sh.MyAddr() // the shell's lock comes before core.Mu
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	refuse := c.core.St.Load() == msgrbase.Closed || c.core.MarkedDown.Load()
	if !refuse {
		snap := c.snapshotLocked()
		snap.Replacing = false // marked for this very request
		again := session.Decide(h.req, &snap, me, c.eng.Policy().ResetCheck)
		if refuse = again.Kind != session.VerdictReplace; refuse {
			c.msgr.sh.Logger().Debug("simple: replacement no longer holds", "peer", c.core.Target.String(), "verdict", again.Kind.String())
		}
	}
	if refuse {
		c.core.Replacing = false
		_ = h.nc.Close() // the peer retries
		return nil
	}
	c.requeueLocked()
	c.beginLocked()
	s := c.attachLocked(h.nc)
	c.halfAccepted = false
	c.core.Role = session.Server
	s.startErr = c.eng.Resume(h.from, h.req, h.v)
	c.core.Replacing = false
	c.rev = c.eng.Revision()
	return s
}

// DiscardRequeued drops the requeued messages the peer already received
// (seq <= seq) from the front of the highest level and reports how many,
// and whether that level still holds messages; engine callback (core.Mu
// held).
func (s *sink) DiscardRequeued(seq uint64) (int, bool) {
	c := (*Connection)(s)
	n := 0
	for seq > 0 {
		it, ok := c.core.Out.Front(255)
		if !ok || it.M == nil || it.M.Seq == 0 || it.M.Seq > seq {
			break
		}
		c.core.Out.PopLevel(255)
		it.M.Release()
		n++
	}
	_, left := c.core.Out.Front(255)
	return n, left
}

// ResetSession discards everything queued for the peer and reports a
// remote reset; engine callback, core.Mu held (Ceph's reset_session).
func (s *sink) ResetSession() {
	c := (*Connection)(s)
	c.msgr.sh.SC.RemoteResets.Add(1)
	// Messages of the old session still waiting for the dispatcher go
	// too: the application must not see them after the reset event.
	c.msgr.sh.DiscardQueued(&c.core)
	c.wr.Sent.Release()
	for _, m := range c.core.DrainOutLocked() {
		m.Release()
	}
	c.acked = 0
	c.msgr.sh.QueueEvent(&c.core, msgrbase.EvRemoteReset)
}
