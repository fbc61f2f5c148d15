package simple

import (
	"fmt"
	"net"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// The writer goroutine: wait for output, lay it out, write it with one
// vectored write.

// maxBatch bounds the messages one vectored write takes, so that a long
// queue does not delay control frames (acks, keepalive acks) for long.
const maxBatch = 128

// outMsg is a message taken from the out-queue for the current write, with
// its header (seq and ack assigned under the lock).
type outMsg struct {
	m *gomsgr.Message
	h msgr2.MsgHeader2
}

// writeLoop writes the engine's control frames and queued messages until
// the connection closes.
func (c *Connection) writeLoop(nc net.Conn) {
	defer close(c.writerDone)
	defer func() {
		for _, m := range c.wr.Drop() { // unwritten: the connection closed
			m.Release()
		}
	}()
	for c.gather() {
		start := clock.Now()
		c.bufs = c.wr.Buffers(c.bufs[:0])
		// WriteTo consumes its receiver: give it a copy of the header that
		// lives in c (a local one would escape, an allocation per write).
		c.wbufs = c.bufs
		n, err := c.wbufs.WriteTo(nc)
		c.core.PC.AddTime(perf.RunningSendTime, clock.Since(start))
		c.core.PC.Add(perf.SendBytes, uint64(n))
		c.wr.Advance(int(n), false) // lossy: written is done
		clear(c.bufs)
		c.core.Mu.Lock()
		lingerErr, more := c.lingerErr, len(c.eng.Output()) > 0
		c.core.Mu.Unlock()
		if lingerErr != nil && (err != nil || !more) {
			// The engine's last frames are out (or the deadline passed).
			c.close(lingerErr, true)
			return
		}
		if err != nil {
			c.close(fmt.Errorf("simple: write: %w", err), true)
			return
		}
	}
}

// pendingLocked reports whether the writer has something to do. Caller
// holds mu.
func (c *Connection) pendingLocked() bool {
	if c.core.St.Load() == msgrbase.Closed || c.lingerErr != nil || len(c.eng.Output()) > 0 {
		return true
	}
	return c.core.St.Load() == msgrbase.Ready && (c.core.Out.Len() > 0 || c.core.Keepalive || c.eng.AckPending())
}

// gather waits for output and lays it out in c.bufs: the engine's control
// frames first, then queued messages (highest priority first) once the
// session is ready, or a standalone ACK if messages arrived and none goes
// out. Payloads are referenced, not copied. False means the connection
// closed.
func (c *Connection) gather() bool {
	c.core.Mu.Lock()
	for !c.pendingLocked() {
		c.cond.Wait()
	}
	if c.core.St.Load() == msgrbase.Closed {
		c.core.Mu.Unlock()
		return false
	}
	if c.lingerErr != nil {
		// Only the failed engine's last frames go out.
		c.takeControl()
		c.core.Mu.Unlock()
		return true
	}
	ready := c.core.St.Load() == msgrbase.Ready
	if ready && c.core.Keepalive {
		c.core.Keepalive = false
		c.eng.QueueKeepalive(time.Now())
	}
	c.takeControl()
	if ready {
		now := clock.Now()
		for c.core.Out.Len() > 0 && len(c.batch) < maxBatch {
			it := c.core.Out.PopHighest()
			m := it.M
			if !it.Queued.IsZero() { // a sampled message
				c.core.PC.AddTime(perf.SendMessagesQueueLat, max(0, now.Sub(it.Queued)))
			}
			c.core.PC.Inc(perf.SendMessages)
			c.batch = append(c.batch, outMsg{m: m, h: m.Header()})
			c.eng.PrepareMessage(&c.batch[len(c.batch)-1].h)
		}
		if len(c.batch) == 0 && c.eng.AckPending() {
			c.eng.QueueAck()
			c.takeControl()
		}
	}
	rev := c.eng.Revision()
	c.core.Mu.Unlock()
	// Encode outside the lock: the reader keeps going.
	for i := range c.batch {
		c.wr.Message(c.batch[i].m, &c.batch[i].h, rev)
		c.batch[i] = outMsg{}
	}
	c.batch = c.batch[:0]
	return true
}

// takeControl moves the engine's output to the writer. Caller holds mu.
func (c *Connection) takeControl() {
	out := c.eng.Output()
	c.wr.Control(out)
	c.eng.Advance(len(out))
}
