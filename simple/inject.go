package simple

import (
	"math/rand/v2"
	"net"
	"runtime"
	"time"

	"github.com/gomsgr/gomsgr/testhooks"
)

// Fault injection for tests (Ceph's ms_inject_*; testhooks.Inject), off
// unless Options.Testing or SetInject turns it on. It costs one atomic
// load per read, write and delivered message when off.

// SetInject changes the fault injection while the messenger runs.
func (m *Messenger) SetInject(i testhooks.Inject) {
	if i == (testhooks.Inject{}) {
		m.inject.Store(nil)
		return
	}
	m.inject.Store(&i)
}

// injectSocketFailure shuts nc down one time in SocketFailures (before a
// read or write): the I/O then fails and the fault path runs.
func (c *Connection) injectSocketFailure(nc net.Conn) {
	inj := c.msgr.inject.Load()
	if inj == nil || inj.SocketFailures <= 0 || rand.IntN(inj.SocketFailures) != 0 {
		return
	}
	c.msgr.sh.SC.InjSocket.Add(1)
	if tc, ok := nc.(*net.TCPConn); ok {
		// As conn's shutdown(SHUT_RDWR): the socket stays open until its
		// owner gives it up. Errors mean it is gone already.
		_ = tc.CloseRead()
		_ = tc.CloseWrite()
		return
	}
	_ = nc.Close()
}

// injectCongestion lets one write attempt in Congestion through; the
// writer yields for the others, as if the socket were full.
func (c *Connection) injectCongestion() {
	for {
		inj := c.msgr.inject.Load()
		if inj == nil || inj.Congestion <= 0 || rand.IntN(inj.Congestion) == 0 {
			return
		}
		c.msgr.sh.SC.InjCongestion.Add(1)
		runtime.Gosched()
	}
}

// injectDelay sleeps at a race point of a session replacement
// (ms_inject_internal_delays); with SocketFailures set, only one time in
// SocketFailures, as Ceph does.
func (m *Messenger) injectDelay() {
	inj := m.inject.Load()
	if inj == nil || inj.InternalDelay <= 0 {
		return
	}
	if inj.SocketFailures > 0 && rand.IntN(inj.SocketFailures) != 0 {
		return
	}
	m.sh.SC.InjDelays.Add(1)
	time.Sleep(inj.InternalDelay)
}

// injectRecvDelay holds the next received message back, with the
// probability asked for messages from the peer's type
// (ms_inject_delay_*). The connection's goroutine sleeps: the messages
// after it wait too, so order is kept.
func (c *Connection) injectRecvDelay() {
	inj := c.msgr.inject.Load()
	if inj == nil || inj.DelayMax <= 0 || inj.DelayType != c.core.PeerT || rand.Float64() >= inj.DelayProbability {
		return
	}
	c.msgr.sh.SC.InjRecvDelays.Add(1)
	time.Sleep(time.Duration(rand.Int64N(int64(inj.DelayMax)) + 1))
}
