package conn

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/internal/framing"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// The read side: a readable edge runs handleRead, which reads until the
// socket is drained and feeds the frames to the engine through the shared
// frame reader (internal/framing), then writes what the engine answered.

// handleRead reads until EAGAIN (or a short read), feeding the engine.
func (c *Connection) handleRead() {
	if c.readBlocked || !c.sock.open() {
		return // a throttle timer will resume
	}
	if c.cm {
		c.readCM()
		c.writeLoopGuarded()
		c.flushCounts()
		return
	}
	// lastRead takes the loop's clock as this turn read it: no reading of
	// our own.
	now := c.c.Now()
	if !c.timedRun() {
		c.readLoop(now)
		c.writeLoopGuarded() // replies, acks
		c.flushCounts()
		return
	}
	start := center.Nanotime()
	c.readLoop(now)
	mid := center.Nanotime()
	c.core.PC.AddTime(perf.RunningRecvTime, mid.Sub(start)*c.msgr.sh.SampleEvery())
	c.writeTimed(mid) // replies, acks; flushes the counts
}

// readLoop reads and processes until the socket is drained. now is the
// loop's clock for this handler run; it stamps lastRead. An idle
// connection holds no read buffer: the reader gives it back when drained.
func (c *Connection) readLoop(now center.Instant) {
	defer c.rd.Idle()
	if c.rd.Buffered() > 0 && !c.process() {
		return // bytes left from before a throttle stop
	}
	for c.core.St.Load() != msgrbase.Closed && !c.readBlocked {
		b := c.rd.Space()
		if c.msgr.sh.Injecting() {
			c.injectSocketFailure()
		}
		n, err := readSocket(c.sock.fd, b)
		if n > 0 {
			c.rd.Filled(n)
			c.lastRead = now
			if !c.process() {
				return
			}
			if n < len(b) && !c.hup {
				break // short read: the socket is drained, a new edge will come
			}
			continue
		}
		if err == errWouldBlock {
			break
		}
		c.fault(fmt.Errorf("conn: read: %w", err))
		return
	}
}

// process feeds the buffered bytes to the engine; false means the
// connection closed or a throttle stopped reading (a timer retries: TCP
// pushes back on the sender meanwhile).
func (c *Connection) process() bool {
	return c.processed(c.rd.Process((*feeder)(c)))
}

// processed acts on what the reader's Process (or ProcessLent) returned:
// it arms the progress timer for a frame left waiting, and stops reading
// on a throttle, hands the socket over on a replacement or faults.
func (c *Connection) processed(err error) bool {
	if c.prog.After(&c.rd, c.c.Now()) {
		c.c.AddTimer(&c.stallTmr, c.prog.Timeout())
	}
	switch {
	case err == nil:
		return c.core.St.Load() != msgrbase.Closed
	case errors.Is(err, framing.ErrBlocked):
		c.readBlocked = true
		c.c.AddTimer(&c.throttleTmr, c.msgr.opts.ThrottleRetry)
	case errors.Is(err, session.ErrReplaced):
		c.handOver()
	default:
		c.lastWords()
		c.fault(err)
	}
	return false
}

// feeder is the connection as its frame reader feeds it
// (framing.Feeder): the engine, with the session counters around it.
type feeder Connection

// Feed feeds b to the engine and counts duplicates and skipped seqs.
func (f *feeder) Feed(b []byte) (n, need int, err error) {
	c := (*Connection)(f)
	dups, skips := c.eng.Duplicates(), c.eng.Skipped()
	n, need, err = c.eng.Feed(b)
	if d := c.eng.Skipped() - skips; d > 0 {
		c.msgr.sh.SC.Skipped.Add(d)
		c.msgr.sh.Logger().Info("conn: missed message? received seqs skipped some",
			"peer", c.core.PeerName.String(), "skipped", d, "in_seq", c.eng.InSeq())
	}
	if d := c.eng.Duplicates() - dups; d > 0 {
		c.msgr.sh.SC.Duplicates.Add(d)
	}
	if err == nil && c.eng.State() < session.StateReady {
		c.publish() // cookies and seqs may have changed
	}
	return n, need, err
}

// Open reports whether the session is open.
func (f *feeder) Open() bool { return f.eng.State() == session.StateReady }

// Peek reads the next frame's preamble and size (Engine.PeekFrame).
func (f *feeder) Peek(b []byte) (msgr2.Preamble, int, error) { return f.eng.PeekFrame(b) }

// Budget takes a MESSAGE frame's budget without waiting: one message
// and its payload bytes from the peer type's throttles, the bytes from the
// dispatch throttle; all or nothing.
func (f *feeder) Budget(size int64, h *msgrbase.Held) bool {
	if !h.TryTake(f.core.Thr, f.msgr.sh.DThr, size) {
		return false
	}
	f.prog.Took(size)
	return true
}

// onThrottleRetry reads again after a throttle refused.
func (c *Connection) onThrottleRetry() {
	if c.core.St.Load() == msgrbase.Closed {
		return
	}
	c.readBlocked = false
	c.handleRead()
}

// lastWords writes, without waiting, the frames the engine queued before it
// failed (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES), so that the peer learns
// why, as Ceph does. Whatever the socket does not take at once is dropped.
func (c *Connection) lastWords() {
	out := c.eng.Output()
	if len(out) == 0 || !c.sock.open() || c.wr.Pending() {
		return // nothing to say, or a partial write would interleave
	}
	writeNow(c.sock.fd, out) // best effort: the connection fails either way
	c.eng.Advance(len(out))
}
