package simple

import (
	"time"

	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// The message progress deadline (docs/ARCHITECTURE.md, "Hostile peers"):
// process arms stallTimer when a MESSAGE frame whose budget the connection
// took waits for more bytes; the end of the socket stops it.

// armStall starts the deadline of the frame that began waiting, for the
// current socket attempt (once per frame that spans reads, not per
// message).
func (c *Connection) armStall() {
	d := c.prog.Timeout()
	c.core.Mu.Lock()
	defer c.core.Mu.Unlock()
	c.stallGen = c.gen
	if c.stallTimer == nil {
		c.stallTimer = time.AfterFunc(d, c.onStall)
		return
	}
	c.stallTimer.Reset(d)
}

// onStall runs on the timer's goroutine: if the pending frame is past its
// deadline, the socket is cut with gomsgr.ErrStalled (the reader's fault
// path gives the budget back); if a later frame is pending, the timer is
// re-armed for its deadline.
func (c *Connection) onStall() {
	stalled, rest := c.prog.Expired(clock.Now())
	c.core.Mu.Lock()
	gen := c.stallGen
	if rest > 0 && c.gen == gen && c.core.St.Load() == msgrbase.Ready {
		c.stallTimer.Reset(rest)
	}
	c.core.Mu.Unlock()
	if !stalled {
		return
	}
	c.cut(gen, c.prog.Err("simple"), func(st msgrbase.State) bool {
		if st != msgrbase.Ready {
			return false
		}
		c.core.PC.Inc(perf.ConnectionStalls)
		return true
	})
}
