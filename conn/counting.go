package conn

import "github.com/gomsgr/gomsgr/perf"

// counting is a connection's share of the counters (worker-only): message
// and byte counts gather in cb, the worker's batch, published once per
// loop turn (or per handler run, on a stack that is not the messenger's:
// flushEach); ticks pick the sampled timings (Options.SampleEvery).
type counting struct {
	cb        *perf.Batch
	flushEach bool
	ackTick   uint32
	runTick   uint32 // handler runs, for timedRun
}

// timedRun reports whether this handler run is one that counting times:
// one in Options.SampleEvery, each standing for SampleEvery runs in
// msgr_running_recv_time and msgr_running_send_time. The clock reads of a
// timed run then cost a fraction of a read per run.
func (c *Connection) timedRun() bool {
	if c.core.PC == nil {
		return false
	}
	t := c.cnt.runTick
	c.cnt.runTick++
	return c.msgr.sh.Sampled(t)
}

// flushCounts publishes the message and byte counts gathered in this
// handler run when no loop-turn hook does (flushEach): a few atomic adds per
// run instead of several per message.
func (c *Connection) flushCounts() {
	c.core.PublishSeqs(c.eng.InSeq(), c.eng.OutSeq())
	if c.cnt.flushEach {
		c.cnt.cb.Flush()
	}
}
