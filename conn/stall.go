package conn

import (
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// The message progress deadline (docs/ARCHITECTURE.md, "Hostile peers"):
// process arms stallTmr when a MESSAGE frame whose budget the connection
// took waits for more bytes; dropSocket cancels it.

// onStall runs when the deadline of the pending frame may have passed: the
// connection is faulted with gomsgr.ErrStalled if that frame still has not
// arrived whole (the fault gives its budget back), or the timer is re-armed
// for a later frame's deadline.
func (c *Connection) onStall() {
	if c.core.St.Load() != msgrbase.Ready {
		return
	}
	stalled, rest := c.prog.Expired(c.c.Now())
	if rest > 0 {
		c.c.AddTimer(&c.stallTmr, rest)
		return
	}
	if stalled {
		c.core.PC.Inc(perf.ConnectionStalls)
		c.fault(c.prog.Err("conn"))
	}
}
