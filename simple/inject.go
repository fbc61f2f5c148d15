package simple

import (
	"net"
	"runtime"
	"time"
)

// Fault injection for tests (Ceph's ms_inject_*; testhooks.Inject), off
// unless Options.Testing or SetInject turns it on. It costs one atomic
// load per read, write and delivered message when off.

// injectSocketFailure shuts nc down one time in SocketFailures (before a
// read or write): the I/O then fails and the fault path runs.
func (c *Connection) injectSocketFailure(nc net.Conn) {
	if !c.msgr.sh.InjectSocketFailure() {
		return
	}
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
	for c.msgr.sh.InjectCongestion() {
		runtime.Gosched()
	}
}

// injectRecvDelay holds the next received message back, with the
// probability asked for messages from the peer's type
// (ms_inject_delay_*). The connection's goroutine sleeps: the messages
// after it wait too, so order is kept.
func (c *Connection) injectRecvDelay() {
	if d := c.msgr.sh.InjectRecvDelay(c.core.PeerT); d > 0 {
		time.Sleep(d)
	}
}
