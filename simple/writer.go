package simple

import (
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// The writer goroutine: wait for output, lay it out, write it with one
// vectored write. One writer per socket; the next socket's writer starts
// only after this one returned.

// maxBatch bounds the messages one vectored write takes, so that a long
// queue does not delay control frames (acks, keepalive acks) for long.
const maxBatch = 128

// outMsg is a message taken from the out-queue for the current write, with
// its header (seq and ack assigned under the lock).
type outMsg struct {
	m *gomsgr.Message
	h msgr2.MsgHeader2
}

// writeLoop writes the engine's control frames and queued messages on s
// until s stops, fails or the connection closes. What it did not finish
// writing stays in c.wr for the connection's goroutine (requeued in a
// lossless session, released otherwise).
func (c *Connection) writeLoop(s *socket) {
	defer c.msgr.wg.Done()
	defer close(s.done)
	for c.gather(s) {
		var start clock.Instant
		timed := c.core.PC != nil && c.msgr.sh.Sampled(c.sendTick)
		c.sendTick++
		if timed {
			start = clock.Now()
		}
		c.injectSocketFailure(s.nc)
		c.injectCongestion()
		c.bufs = c.wr.Buffers(c.bufs[:0])
		// WriteTo consumes its receiver: give it a copy of the header that
		// lives in c (a local one would escape, an allocation per write).
		c.wbufs = c.bufs
		n, err := c.wbufs.WriteTo(s.nc)
		if timed { // a sampled write stands for SampleEvery of them
			c.core.PC.AddTime(perf.RunningSendTime, clock.Since(start)*c.msgr.sh.SampleEvery())
		}
		c.core.PC.Add(perf.SendBytes, uint64(n))
		clear(c.bufs)
		c.core.Mu.Lock()
		// Lossless: written messages wait for the peer's ack, which may
		// have come already.
		c.wr.Advance(int(n), c.lossless)
		if c.acked > 0 && c.wr.Sent.Len() > 0 {
			c.wr.Sent.Ack(c.acked)
		}
		linger, more, stop := s.linger, len(c.eng.Output()) > 0, s.stop
		c.core.PublishSeqs(c.eng.InSeq(), c.eng.OutSeq())
		c.core.Mu.Unlock()
		if linger && (err != nil || !more) {
			return // the engine's last frames are out (or the deadline passed)
		}
		if err != nil {
			if !stop {
				c.writeFailed(s, fmt.Errorf("simple: write: %w", err))
			}
			return
		}
	}
}

// writeFailed cuts s after a write error: the reader then fails too, and
// the fault path runs with err.
func (c *Connection) writeFailed(s *socket, err error) {
	c.core.Mu.Lock()
	if c.sock == s && c.sockErr == nil {
		c.sockErr = err
	}
	c.core.Mu.Unlock()
	c.interrupt(s)
}

// pendingLocked reports whether the writer of s has something to do.
// Caller holds mu.
func (c *Connection) pendingLocked(s *socket) bool {
	st := c.core.St.Load()
	if st == msgrbase.Closed || (s != nil && (s.stop || s.linger)) || len(c.eng.Output()) > 0 {
		return true
	}
	return st == msgrbase.Ready && (c.core.Out.Len() > 0 || c.core.Keepalive || c.eng.AckPending())
}

// gather waits for output and lays it out in c.wr: the engine's control
// frames first, then queued messages (highest priority first) once the
// session is ready, or a standalone ACK if messages arrived and none goes
// out. Payloads are referenced, not copied. False means s stopped or the
// connection closed.
func (c *Connection) gather(s *socket) bool {
	c.core.Mu.Lock()
	for !c.pendingLocked(s) {
		c.cond.Wait()
	}
	if c.core.St.Load() == msgrbase.Closed || s.stop {
		c.core.Mu.Unlock()
		return false
	}
	if s.linger {
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
	c.wr.Secure = c.eng.SecureTx()
	c.takeControl()
	if ready {
		c.takeMessages()
	}
	rev := c.eng.Revision()
	if c.wr.Secure != nil {
		// Seal under the lock: the reader's engine seals control frames
		// with the same nonce sequence, and the order on the wire must be
		// the order of sealing.
		err := c.encode(rev)
		if err != nil && c.sockErr == nil {
			c.sockErr = fmt.Errorf("simple: write: %w", err)
		}
		c.core.Mu.Unlock()
		if err != nil {
			c.interrupt(s) // the reader fails, and the fault path runs
			return false
		}
		return true
	}
	c.core.Mu.Unlock()
	// Encode outside the lock: the reader keeps going.
	_ = c.encode(rev) // crc mode: no error
	return true
}

// encode adds the batch's messages to the writer. On an error (secure
// mode's nonces ran out; the caller holds mu then) the messages not added
// go back to the front of the out-queue, in order, for the next socket.
func (c *Connection) encode(rev msgr2.Revision) error {
	var err error
	for i := range c.batch {
		if err = c.wr.Message(c.batch[i].m, &c.batch[i].h, rev); err != nil {
			for j := len(c.batch) - 1; j >= i; j-- {
				c.core.Out.PushFront(gomsgr.PrioHighest, msgrbase.OutItem{M: c.batch[j].m})
			}
			c.eng.Requeued(len(c.batch) - i)
			break
		}
	}
	clear(c.batch)
	c.batch = c.batch[:0]
	return err
}

// takeMessages takes up to maxBatch messages from the out-queue, giving
// each its seq (a requeued one gets its own again), or queues a standalone
// ACK if there is none. Caller holds mu.
func (c *Connection) takeMessages() {
	var now clock.Instant
	bytes := 0
	for c.core.Out.Len() > 0 && len(c.batch) < maxBatch && (c.wr.Secure == nil || bytes < framing.SecureBatchBytes) {
		it := c.core.Out.PopHighest()
		m := it.M
		if !it.Queued.IsZero() { // a sampled message: read the clock once
			if now.IsZero() {
				now = clock.Now()
			}
			c.core.PC.AddTime(perf.SendMessagesQueueLat, max(0, now.Sub(it.Queued)))
		}
		if it.Replay {
			c.msgr.sh.SC.Replayed.Add(1)
		}
		c.core.PC.Inc(perf.SendMessages)
		bytes += m.Len()
		c.batch = append(c.batch, outMsg{m: m, h: m.Header()})
		h := &c.batch[len(c.batch)-1].h
		c.eng.PrepareMessage(h)
		m.Seq = h.Seq // the sent list is trimmed by seq
	}
	if len(c.batch) == 0 && c.eng.AckPending() {
		c.eng.QueueAck()
		c.takeControl()
	}
}

// takeControl moves the engine's output to the writer. Caller holds mu.
func (c *Connection) takeControl() {
	out := c.eng.Output()
	c.wr.Control(out)
	c.eng.Advance(len(out))
}
