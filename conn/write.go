package conn

import (
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// The write side: the write event (posted by senders) and writable edges
// run handleWrite, which drains the out-queue through the shared frame
// writer (internal/framing) into writev calls until done or EAGAIN.

// writable reports whether the connection has a socket to write: not
// connecting, not closed.
func (c *Connection) writable() bool {
	st := c.core.St.Load()
	return c.sock.open() && st != msgrbase.Connecting && st != msgrbase.Closed
}

// handleWrite writes pending output until done or EAGAIN.
func (c *Connection) handleWrite() {
	if c.core.St.Load() == msgrbase.Standby {
		c.wakeStandby()
		return
	}
	if !c.writable() {
		return
	}
	if !c.timedRun() {
		c.writeLoop()
		c.flushCounts()
		return
	}
	c.writeTimed(center.Nanotime())
}

// writeLoopGuarded is handleWrite without counters.
func (c *Connection) writeLoopGuarded() {
	if c.writable() {
		c.writeLoop()
	}
}

// writeTimed writes in a timed run (timedRun), counting the time from
// start (a clock reading the caller already has) as running send time.
func (c *Connection) writeTimed(start center.Instant) {
	if c.writable() {
		c.writeLoop()
		c.core.PC.AddTime(perf.RunningSendTime, center.Nanotime().Sub(start)*c.msgr.sh.SampleEvery())
	}
	c.flushCounts()
}

func (c *Connection) writeLoop() {
	if c.cm {
		c.writeCM()
		return
	}
	for c.wr.Pending() || c.gather() {
		if c.msgr.sh.Injecting() {
			c.injectSocketFailure()
			if c.msgr.sh.InjectCongestion() {
				// As if the socket were full; the socket is writable, so
				// no edge will come: try again on the next loop turn.
				if err := c.c.Post(&c.writeEv); err != nil {
					c.fault(fmt.Errorf("conn: write: %w", err))
				}
				return
			}
		}
		n, err := writeSocket(c.sock.fd, &c.wr, c.iovs)
		if err == errWouldBlock {
			if !c.wantWrite {
				// Without the writable interest no edge would ever come
				// and the output would wait forever: fail instead.
				if err := c.c.AddFile(c.sock.fd, driver.Writable, c.handleEvent); err != nil {
					c.fault(fmt.Errorf("conn: write: %w", err))
					return
				}
				c.wantWrite = true
			}
			return
		}
		if err != nil {
			c.fault(fmt.Errorf("conn: write: %w", err))
			return
		}
		c.cnt.cb.Add(perf.SendBytes, uint64(n))
		// Lossless: written messages wait for the peer's ack.
		c.wr.Advance(n, c.rs.lossless && c.core.St.Load() == msgrbase.Ready)
	}
	if c.wantWrite {
		c.wantWrite = false
		if err := c.c.DelFile(c.sock.fd, driver.Writable); err != nil {
			c.fault(fmt.Errorf("conn: write: %w", err))
		}
	}
}

// gather collects output: the engine's control frames first, then queued
// messages (highest priority first) once the session is ready, then a
// standalone ACK if messages arrived and none went out.
func (c *Connection) gather() bool {
	ready := c.core.St.Load() == msgrbase.Ready
	if ready {
		c.core.Mu.Lock()
		ka := c.core.Keepalive
		c.core.Keepalive = false
		c.core.Mu.Unlock()
		if ka {
			c.eng.QueueKeepalive(time.Now())
		}
	}
	c.wr.Secure = c.eng.SecureTx()
	c.takeControl()
	if !ready {
		return c.wr.Pending()
	}
	sent := false
	c.core.Mu.Lock()
	for c.core.Out.Len() > 0 && c.wr.Parts() < framing.MaxIovecs-8 && !c.wr.Full() {
		it := c.core.Out.PopHighest()
		c.core.Mu.Unlock()
		if !it.Queued.IsZero() {
			// A sampled message (Options.SampleEvery): read the clock.
			c.core.PC.AddTime(perf.SendMessagesQueueLat, max(0, center.Nanotime().Sub(it.Queued)))
		}
		if it.Replay {
			c.msgr.sh.SC.Replayed.Add(1)
		}
		h := it.M.Header()
		c.eng.PrepareMessage(&h)
		it.M.Seq = h.Seq // the sent list is trimmed by seq
		if err := c.wr.Message(it.M, &h, c.eng.Revision()); err != nil {
			// The sealer's nonces ran out: the message goes back for the
			// next socket (new keys), and this one faults.
			c.eng.Requeued(1)
			c.core.Mu.Lock()
			c.core.Out.PushFront(gomsgr.PrioHighest, it)
			c.core.Mu.Unlock()
			c.fault(fmt.Errorf("conn: write: %w", err))
			return false
		}
		c.cnt.cb.Inc(perf.SendMessages)
		sent = true
		c.core.Mu.Lock()
	}
	c.core.Mu.Unlock()
	if !sent && c.eng.AckPending() {
		c.eng.QueueAck()
		c.takeControl()
	}
	return c.wr.Pending()
}

// takeControl moves the engine's output to the writer.
func (c *Connection) takeControl() {
	out := c.eng.Output()
	c.wr.Control(out)
	c.eng.Advance(len(out))
}
