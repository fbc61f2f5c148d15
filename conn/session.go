package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
)

// Lossless sessions: faults, reconnects, replay, and the replacement of a
// connection by a newer socket from the same peer (DESIGN §3, Ceph's
// ProtocolV2 _fault, handle_existing_connection and reuse_connection).

// SessionStats counts what lossless sessions went through, messenger-wide.
type SessionStats struct {
	// Faults is the number of socket faults handled (any policy).
	Faults uint64
	// Reconnects counts connect attempts that resumed a session after a
	// fault (immediate or after a backoff).
	Reconnects uint64
	// Standbys counts faults that left a lossless session in STANDBY.
	Standbys uint64
	// Requeued counts written but unacknowledged messages put back at the
	// front of an out-queue after a fault; Replayed those written again
	// (the rest the peer already had: RECONNECT_OK dropped them).
	Requeued, Replayed uint64
	// Duplicates counts received messages dropped because their seq was
	// not past the last one delivered.
	Duplicates uint64
	// Skipped counts messages missing in gaps of received seqs (Ceph's
	// "missed message?"); see Options.FailOnSkippedMessage.
	Skipped uint64
	// Replacements counts sockets moved onto an existing session.
	Replacements uint64
	// RemoteResets counts sessions reset because the peer's was.
	RemoteResets uint64
	// InjectedSocketFailures, InjectedCongestion, InjectedDelays (internal
	// delays at race points) and InjectedRecvDelays (messages held back)
	// count the faults Options.Inject caused.
	InjectedSocketFailures, InjectedCongestion, InjectedDelays, InjectedRecvDelays uint64
}

type sessionCounters struct {
	faults, reconnects, standbys, requeued, replayed, duplicates atomic.Uint64
	replacements, remoteResets, skipped                          atomic.Uint64
	injSocket, injCongestion, injDelays, injRecvDelays           atomic.Uint64
}

// SessionStats returns the messenger's session counters.
func (m *Messenger) SessionStats() SessionStats {
	s := &m.sc
	return SessionStats{
		Faults: s.faults.Load(), Reconnects: s.reconnects.Load(), Standbys: s.standbys.Load(),
		Requeued: s.requeued.Load(), Replayed: s.replayed.Load(), Duplicates: s.duplicates.Load(), Skipped: s.skipped.Load(),
		Replacements: s.replacements.Load(), RemoteResets: s.remoteResets.Load(),
		InjectedSocketFailures: s.injSocket.Load(), InjectedCongestion: s.injCongestion.Load(),
		InjectedDelays: s.injDelays.Load(), InjectedRecvDelays: s.injRecvDelays.Load(),
	}
}

// Inject is the fault injection a messenger applies (Ceph's ms_inject_*
// options). The zero value injects nothing; tests set it with
// Options.Inject or, while running, Messenger.SetInject.
type Inject struct {
	// SocketFailures, when positive, shuts a connection's socket down
	// before one in SocketFailures reads and writes
	// (ms_inject_socket_failures).
	SocketFailures int
	// InternalDelay sleeps the worker at the race points of a session
	// replacement (ms_inject_internal_delays); with SocketFailures set,
	// only one time in SocketFailures, as Ceph does.
	InternalDelay time.Duration
	// Congestion, when positive, lets only one write attempt in
	// Congestion go through; the others wait as if the socket were full
	// (ms_inject_network_congestion).
	Congestion int
	// DelayType, DelayMax and DelayProbability delay the delivery of
	// messages from peers of DelayType by up to DelayMax with that
	// probability, keeping their order (ms_inject_delay_type,
	// ms_inject_delay_max, ms_inject_delay_probability).
	DelayType        gomsgr.EntityType
	DelayMax         time.Duration
	DelayProbability float64
}

func (i *Inject) active() bool { return i != nil && *i != (Inject{}) }

// SetInject changes the fault injection while the messenger runs.
func (m *Messenger) SetInject(i Inject) {
	if !i.active() {
		m.inject.Store(nil)
		return
	}
	m.inject.Store(&i)
}

// injectSocketFailure shuts the socket down one time in N (before a read
// or write); the I/O then fails and the fault path runs.
func (c *Connection) injectSocketFailure() {
	inj := c.msgr.inject.Load()
	if inj == nil || inj.SocketFailures <= 0 || c.fd < 0 {
		return
	}
	if rand.IntN(inj.SocketFailures) == 0 {
		c.msgr.sc.injSocket.Add(1)
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// injectCongestion reports whether this write attempt is refused.
func (c *Connection) injectCongestion() bool {
	inj := c.msgr.inject.Load()
	if inj == nil || inj.Congestion <= 0 || rand.IntN(inj.Congestion) == 0 {
		return false
	}
	c.msgr.sc.injCongestion.Add(1)
	return true
}

// injectDelay sleeps at a race point (ms_inject_internal_delays).
func (m *Messenger) injectDelay() {
	inj := m.inject.Load()
	if inj == nil || inj.InternalDelay <= 0 {
		return
	}
	if inj.SocketFailures > 0 && rand.IntN(inj.SocketFailures) != 0 {
		return
	}
	m.sc.injDelays.Add(1)
	time.Sleep(inj.InternalDelay)
}

// exState maps the connection state for the decision table.
func exState(st int32) session.ExState {
	switch st {
	case stReady:
		return session.ExReady
	case stStandby:
		return session.ExStandby
	case stClosed:
		return session.ExClosed
	}
	return session.ExConnecting
}

// publish copies the session fields other connections' decisions read
// into c.sess. Worker only; takes mu.
func (c *Connection) publish() {
	snap := c.eng.Snapshot()
	st := exState(c.state.Load())
	c.mu.Lock()
	snap.State = st
	snap.Replacing = c.sess.Replacing
	snap.PeerAddr = c.peerAddrLocked()
	c.sess = snap
	c.mu.Unlock()
}

// Existing is called by the engine of an accepted connection when the
// peer asks for a session (CLIENT_IDENT or SESSION_RECONNECT): it looks up
// the messenger's connection to that peer and decides with Ceph's table.
// A replacement marks the existing connection as being replaced, so that
// no other socket can take it meanwhile.
func (c *Connection) Existing(req *session.Request) session.Verdict {
	m := c.msgr
	m.injectDelay()
	var ex *Connection
	var v session.Verdict
	m.mu.Lock()
	if len(req.Addrs) > 0 {
		ex = m.reg.Lookup(msgrbase.KeyOf(req.Addrs[0]))
	}
	if ex == c {
		ex = nil
	}
	var me gomsgr.EntityAddr
	if len(m.addrs) > 0 {
		me = m.addrs[0]
	}
	if ex == nil {
		v = session.Decide(req, nil, me, c.eng.Policy().ResetCheck)
	} else {
		ex.mu.Lock()
		snap := ex.sess
		if ex.markedDown.Load() {
			snap.State = session.ExClosed
		}
		v = session.Decide(req, &snap, me, c.eng.Policy().ResetCheck)
		if v.Kind == session.VerdictReplace {
			ex.sess.Replacing = true
			c.replaceWith = ex
		}
		ex.mu.Unlock()
		if v.StopExisting {
			m.reg.Drop(ex.key, ex) // this connection takes its place
		}
	}
	m.mu.Unlock()
	switch {
	case v.StopExisting:
		ex.closeAsync(fmt.Errorf("conn: lossy session replaced by a new one from %v", req.Addrs))
	case v.KeepaliveExisting:
		ex.SendKeepalive()
	}
	if m.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		m.opts.Logger.Debug("conn: session request", "peer", fmt.Sprint(req.Addrs), "reconnect", req.Reconnect,
			"verdict", v.Kind.String(), "existing", ex != nil)
	}
	return v
}

// closeAsync closes c on its worker with a reset event (a lossy session
// that a newer one replaces).
func (c *Connection) closeAsync(err error) {
	c.c.Submit(func() { c.close(err, true) })
}

// handOver moves this accepted connection's socket to the existing
// connection the decision chose, and ends this connection (Ceph's
// reuse_connection). Runs on c's worker after Feed returned ErrReplaced.
func (c *Connection) handOver() {
	ex := c.replaceWith
	c.replaceWith = nil
	req, v := c.eng.Replacement()
	fd := c.fd
	c.c.DelFile(fd, driver.ReadWrite)
	c.fd = -1 // close must not close the socket: it moves
	c.close(session.ErrReplaced, false)
	c.msgr.injectDelay()
	c.msgr.sc.replacements.Add(1)
	eng := c.eng
	if err := ex.c.Submit(func() { ex.takeOver(fd, eng, req, v) }); err != nil {
		ex.mu.Lock()
		ex.sess.Replacing = false
		ex.mu.Unlock()
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}
}

// takeOver continues c's session on the socket fd of a replaced
// connection whose engine got as far as the session request. Runs on c's
// worker.
func (c *Connection) takeOver(fd int, from *session.Engine, req *session.Request, v session.Verdict) {
	clearReplacing := func() {
		c.mu.Lock()
		c.sess.Replacing = false
		c.mu.Unlock()
	}
	if c.state.Load() == stClosed || c.markedDown.Load() {
		clearReplacing()
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
		return
	}
	c.msgr.injectDelay()
	// The decision was taken on a snapshot; this session may have moved
	// on since (its own reconnect answered, a reset): decide again on
	// what it is now, and give the socket up unless it is still a
	// replacement (the peer then retries).
	if again := c.redecide(req); again.Kind != session.VerdictReplace {
		clearReplacing()
		c.msgr.opts.Logger.Debug("conn: replacement no longer holds", "peer", c.target.String(), "verdict", again.Kind.String())
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
		return
	}
	extra := c.dropSocket()
	c.requeue(extra)
	c.c.CancelTimer(&c.reconnectTmr)
	c.fd = fd
	c.halfAccepted = false
	c.mu.Lock()
	c.role = session.Server
	c.mu.Unlock()
	c.state.Store(stHandshake)
	c.iovs = c.msgr.iovs[c.w.ID()]
	c.lastRead = time.Now().UnixNano()
	c.c.AddTimer(&c.readyTimer, c.msgr.opts.ReadyTimeout)
	if err := c.c.AddFile(fd, driver.Readable, c.handleEvent); err != nil {
		clearReplacing()
		c.fault(err)
		return
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
	if st := c.state.Load(); c.fd == fd && (st == stHandshake || st == stReady) {
		c.handleRead()
	}
}

// redecide runs the decision table for req again on this session as it is
// now. Worker only.
func (c *Connection) redecide(req *session.Request) session.Verdict {
	snap := c.eng.Snapshot()
	snap.State = exState(c.state.Load())
	c.mu.Lock()
	snap.PeerAddr = c.peerAddrLocked()
	c.mu.Unlock()
	m := c.msgr
	m.mu.Lock()
	var me gomsgr.EntityAddr
	if len(m.addrs) > 0 {
		me = m.addrs[0]
	}
	m.mu.Unlock()
	return session.Decide(req, &snap, me, c.eng.Policy().ResetCheck)
}

// DiscardRequeued drops the requeued messages the peer already received
// (seq <= seq) from the front of the highest level and reports how many,
// and whether that level still holds messages; engine callback.
func (c *Connection) DiscardRequeued(seq uint64) (int, bool) {
	var drop []*gomsgr.Message
	c.mu.Lock()
	for seq > 0 {
		it, ok := c.out.Front(255)
		if !ok || it.m == nil || it.m.Seq == 0 || it.m.Seq > seq {
			break
		}
		c.out.PopLevel(255)
		drop = append(drop, it.m)
	}
	_, left := c.out.Front(255)
	c.mu.Unlock()
	for _, m := range drop {
		m.Release()
	}
	return len(drop), left
}

// ResetSession discards everything queued for the peer and reports a
// remote reset; engine callback (Ceph's reset_session).
func (c *Connection) ResetSession() {
	c.msgr.sc.remoteResets.Add(1)
	// Messages of the old session still waiting for the dispatcher go
	// too: the application must not see them after the reset event.
	for _, it := range c.msgr.dq.Discard(func(it qitem) bool { return it.conn == c && it.m != nil }) {
		c.msgr.putHeld(c, it.held)
		it.m.Release()
	}
	c.c.CancelTimer(&c.delayTmr)
	for i, d := range c.delayed { // held by an injected delay: old session's
		c.delayed[i] = delayedMsg{}
		c.msgr.putHeld(c, d.h)
		d.m.Release()
	}
	c.delayed = nil
	c.releaseSent()
	c.discardOutQueue()
	c.msgr.queueEvent(c, msgrbase.EvRemoteReset)
}

// dropSocket closes the socket and forgets its input and partial output.
// It returns the messages that were being written (lossless sessions
// requeue them) and releases everything else. Worker only.
func (c *Connection) dropSocket() []*gomsgr.Message {
	c.c.CancelTimer(&c.readyTimer)
	c.c.CancelTimer(&c.idleTimer)
	c.c.CancelTimer(&c.throttleTmr)
	c.readBlocked = false
	if c.frameHeld != (held{}) {
		c.msgr.putHeld(c, c.takeHeld())
	}
	if c.fd >= 0 {
		c.c.DelFile(c.fd, driver.ReadWrite)
		// Shut the socket down before closing it: with io_uring the
		// driver's poll request holds a reference to the file until the
		// removal is processed, and the last reference may be dropped late
		// on another thread; shutdown sends the FIN now regardless.
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		unix.Close(c.fd)
		c.fd = -1
	}
	c.wantWrite = false
	c.hup = false
	var msgs []*gomsgr.Message
	for i := range c.parts {
		p := &c.parts[i]
		if p.f != nil {
			framePool.Put(p.f)
		}
		if p.m != nil {
			msgs = append(msgs, p.m)
		}
		*p = wpart{}
	}
	c.parts = c.parts[:0]
	c.ctrl = c.ctrl[:0]
	if c.rb != nil {
		c.msgr.prefetch.Put(c.rb)
		c.rb, c.buf = nil, nil
	}
	c.dropBig()
	c.r, c.wpos = 0, 0
	return msgs
}

// requeue puts the unacknowledged messages (the sent list, then extra:
// those being written) back at the front of the highest level, in seq
// order, so that they go out first after a reconnect (Ceph's
// requeue_sent).
func (c *Connection) requeue(extra []*gomsgr.Message) {
	all := make([]*gomsgr.Message, 0, len(c.sent)-c.sentHead+len(extra))
	all = append(append(all, c.sent[c.sentHead:]...), extra...)
	clear(c.sent)
	c.sent, c.sentHead = c.sent[:0], 0
	c.unacked.Store(0)
	if len(all) == 0 {
		return
	}
	c.mu.Lock()
	for i := len(all) - 1; i >= 0; i-- {
		c.out.PushFront(255, qitem{m: all[i], replay: true})
	}
	c.mu.Unlock()
	c.eng.Requeued(len(all))
	c.msgr.sc.requeued.Add(uint64(len(all)))
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
	prev := c.state.Load()
	if prev == stClosed {
		return
	}
	m := c.msgr
	m.sc.faults.Add(1)
	pol := c.eng.Policy()
	if c.markedDown.Load() {
		c.close(ErrMarkedDown, false) // a mark-down delivers no event
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
	if c.role == session.Client && errors.Is(err, errRefused) {
		m.queueEvent(c, msgrbase.EvRefused)
	}
	c.faultErr = err
	c.requeue(c.dropSocket())
	queued := c.queued()
	waited := errors.Is(err, session.ErrWait)
	if m.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		m.opts.Logger.Debug("conn: fault", "peer", c.target.String(), "state", stateNames[prev], "err", err,
			"queued", queued, "policy", fmt.Sprintf("%+v", pol))
	}
	if (pol.Standby && !queued && !waited) || pol.Server || c.reconnectAddr().Addr.Port() == 0 {
		c.state.Store(stStandby)
		m.sc.standbys.Add(1)
		c.publish()
		return
	}
	if prev == stReady && !waited {
		c.backoff = 0
		c.eng.Faulted()
		c.reconnect()
		return
	}
	switch {
	case waited:
		c.backoff = m.opts.MaxBackoff
	case c.backoff == 0:
		c.backoff = m.opts.InitialBackoff
	default:
		c.backoff = min(2*c.backoff, m.opts.MaxBackoff)
	}
	c.eng.Faulted()
	c.state.Store(stConnecting)
	c.publish()
	c.c.AddTimer(&c.reconnectTmr, c.backoff)
}

func (m *Messenger) isStopping() bool { return m.stopFlag.Load() }

// reconnectAddr is where a reconnect dials: the address dialled before,
// or for an accepted connection the peer's advertised address.
func (c *Connection) reconnectAddr() gomsgr.EntityAddr {
	if c.role == session.Client {
		return c.target
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.peerAddrs) > 0 {
		return c.peerAddrs[0]
	}
	return gomsgr.EntityAddr{}
}

func (c *Connection) onReconnectTimer() { c.reconnect() }

// reconnect dials the peer again for the same session: the engine asks
// for it back with SESSION_RECONNECT once it has a server cookie.
func (c *Connection) reconnect() {
	if c.state.Load() == stClosed || c.markedDown.Load() {
		return
	}
	target := c.reconnectAddr()
	c.mu.Lock()
	replacing := c.sess.Replacing
	if !replacing {
		c.target, c.role = target, session.Client
	}
	c.mu.Unlock()
	if replacing {
		return // a socket from the peer is on its way to this session
	}
	c.eng.Restart(session.Client, c.target)
	c.state.Store(stConnecting)
	c.publish()
	c.msgr.sc.reconnects.Add(1)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len() > 0 || c.keepalive
}

// discardOutQueue releases every queued message (Ceph's discard_out_queue
// for the out-queue; the sent list is releaseSent's).
func (c *Connection) discardOutQueue() {
	c.mu.Lock()
	var dropped []*gomsgr.Message
	for c.out.Len() > 0 {
		dropped = append(dropped, c.out.PopHighest().m)
	}
	c.mu.Unlock()
	for _, m := range dropped {
		m.Release()
	}
}

// delayedMsg is a received message held back by an injected delay.
type delayedMsg struct {
	m   *gomsgr.Message
	h   held
	due int64 // nanotime
}

// maybeDelay holds m back when receive delays are injected for the peer's
// type (or earlier messages are still held: order is kept). Worker only.
func (c *Connection) maybeDelay(m *gomsgr.Message) bool {
	inj := c.msgr.inject.Load()
	var d time.Duration
	if inj != nil && inj.DelayMax > 0 && inj.DelayType == c.peerType && rand.Float64() < inj.DelayProbability {
		d = time.Duration(rand.Int64N(int64(inj.DelayMax)) + 1)
		c.msgr.sc.injRecvDelays.Add(1)
	}
	if d == 0 && len(c.delayed) == 0 {
		return false
	}
	due := nanotime() + int64(d)
	if n := len(c.delayed); n > 0 {
		due = max(due, c.delayed[n-1].due)
	}
	c.delayed = append(c.delayed, delayedMsg{m: m, h: c.takeHeld(), due: due})
	if len(c.delayed) == 1 {
		c.c.AddTimer(&c.delayTmr, time.Duration(max(0, due-nanotime())))
	}
	return true
}

// onDelayTimer delivers the held messages that are due, in order.
func (c *Connection) onDelayTimer() {
	now := nanotime()
	i := 0
	for ; i < len(c.delayed) && c.delayed[i].due <= now; i++ {
		d := c.delayed[i]
		c.delayed[i] = delayedMsg{}
		c.msgr.deliverHeld(c, d.m, d.h)
	}
	c.delayed = append(c.delayed[:0], c.delayed[i:]...)
	if len(c.delayed) > 0 {
		c.c.AddTimer(&c.delayTmr, time.Duration(max(0, c.delayed[0].due-nanotime())))
	} else {
		c.delayed = nil
	}
}

// flushDelayed delivers every held message now (the connection is
// closing: they were received and acknowledged).
func (c *Connection) flushDelayed() {
	c.c.CancelTimer(&c.delayTmr)
	for i, d := range c.delayed {
		c.delayed[i] = delayedMsg{}
		c.msgr.deliverHeld(c, d.m, d.h)
	}
	c.delayed = nil
}
