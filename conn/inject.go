package conn

import (
	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
)

// Fault injection (Options.Testing's testhooks.Inject; Ceph's ms_inject_*
// options): socket failures, congestion, delays at race points and held
// back deliveries.

// injectSocketFailure shuts the socket down one time in N (before a read
// or write); the I/O then fails and the fault path runs.
func (c *Connection) injectSocketFailure() {
	if c.sock.open() && c.msgr.sh.InjectSocketFailure() {
		shutdownFD(c.sock.fd)
	}
}

// delays holds the received messages an injected delay holds back, in
// order (worker-only).
type delays struct {
	delayed  []delayedMsg
	delayTmr center.Timer
}

// delayedMsg is a received message held back by an injected delay.
type delayedMsg struct {
	m   *gomsgr.Message
	h   msgrbase.Held
	due center.Instant
}

// maybeDelay holds m back when receive delays are injected for the peer's
// type (or earlier messages are still held: order is kept). Worker only.
func (c *Connection) maybeDelay(m *gomsgr.Message) bool {
	d := c.msgr.sh.InjectRecvDelay(c.core.PeerT)
	if d == 0 && len(c.inj.delayed) == 0 {
		return false
	}
	due := center.Nanotime().Add(d)
	if n := len(c.inj.delayed); n > 0 {
		due = max(due, c.inj.delayed[n-1].due)
	}
	c.inj.delayed = append(c.inj.delayed, delayedMsg{m: m, h: c.rd.Held.Move(), due: due})
	if len(c.inj.delayed) == 1 {
		c.c.AddTimer(&c.inj.delayTmr, max(0, due.Sub(center.Nanotime())))
	}
	return true
}

// onDelayTimer delivers the held messages that are due, in order.
func (c *Connection) onDelayTimer() {
	now := center.Nanotime()
	i := 0
	for ; i < len(c.inj.delayed) && c.inj.delayed[i].due <= now; i++ {
		d := c.inj.delayed[i]
		c.inj.delayed[i] = delayedMsg{}
		c.msgr.sh.Deliver(&c.core, d.m, d.h)
	}
	c.inj.delayed = append(c.inj.delayed[:0], c.inj.delayed[i:]...)
	if len(c.inj.delayed) > 0 {
		c.c.AddTimer(&c.inj.delayTmr, max(0, c.inj.delayed[0].due.Sub(center.Nanotime())))
	} else {
		c.inj.delayed = nil
	}
}

// flushDelayed delivers every held message now (the connection is
// closing: they were received and acknowledged).
func (c *Connection) flushDelayed() {
	c.c.CancelTimer(&c.inj.delayTmr)
	for i, d := range c.inj.delayed {
		c.inj.delayed[i] = delayedMsg{}
		c.msgr.sh.Deliver(&c.core, d.m, d.h)
	}
	c.inj.delayed = nil
}
