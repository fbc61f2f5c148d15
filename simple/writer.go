package simple

import (
	"fmt"
	"net"
	"sync"
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

// outMsg is a message taken from the out-queue for the current write: its
// header (seq and ack assigned under the lock) and its pooled frame.
type outMsg struct {
	m *gomsgr.Message
	h msgr2.MsgHeader2
	f *msgr2.MessageFrame
}

var framePool = sync.Pool{New: func() any { return new(msgr2.MessageFrame) }}

// writeLoop writes the engine's control frames and queued messages until
// the connection closes.
func (c *Connection) writeLoop(nc net.Conn) {
	defer close(c.writerDone)
	for c.gather() {
		start := clock.Now()
		n, err := c.bufs.WriteTo(nc)
		c.core.PC.AddTime(perf.RunningSendTime, time.Duration(clock.Now()-start))
		c.core.PC.Add(perf.SendBytes, uint64(n))
		c.finishBatch()
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
	c.ctrl = c.ctrl[:0]
	c.iov = c.iov[:0]
	if c.lingerErr != nil {
		// Only the failed engine's last frames go out.
		c.takeControl()
		c.bufs = c.iov
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
			c.core.PC.AddTime(perf.SendMessagesQueueLat, time.Duration(now-it.Queued))
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
	// Encode (crc the payloads) outside the lock: the reader keeps going.
	for i := range c.batch {
		o := &c.batch[i]
		o.f = framePool.Get().(*msgr2.MessageFrame)
		o.f.Encode(rev, &o.h, o.m.Front, o.m.Middle, o.m.Data)
		c.iov = o.f.Iovecs(c.iov)
	}
	c.bufs = c.iov
	return true
}

// takeControl moves the engine's output into ctrl (the engine reuses its
// buffer) and adds it to the write. Caller holds mu.
func (c *Connection) takeControl() {
	out := c.eng.Output()
	if len(out) == 0 {
		return
	}
	start := len(c.ctrl)
	c.ctrl = append(c.ctrl, out...)
	c.eng.Advance(len(out))
	c.iov = append(c.iov, c.ctrl[start:len(c.ctrl):len(c.ctrl)])
}

// finishBatch releases the messages of the last write (lossy: written is
// done; lossless sessions would keep them until acked, which needs session
// reconnect first) and returns their frames to the pool.
func (c *Connection) finishBatch() {
	for i := range c.batch {
		o := &c.batch[i]
		if o.f != nil {
			framePool.Put(o.f)
		}
		o.m.Release()
		*o = outMsg{}
	}
	c.batch = c.batch[:0]
	clear(c.iov) // drop the payload references; WriteTo consumed bufs, not iov
}
