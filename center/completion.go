package center

import (
	"fmt"

	"github.com/gomsgr/gomsgr/driver"
)

// Completion mode (Config.IO = IOCompletion with a driver that offers
// driver.Completer): a socket's user arms a receive (Recv) and sends
// (Send) through the center, and its CompletionFunc runs on the loop for
// each result, after the turn's readiness handlers. Quiesce ends an fd's
// requests and runs a function once the driver holds nothing of the fd,
// which is when it may be closed or handed to another center.

// CompletionFunc handles one completion of an fd's requests on the loop.
// A receive's buffer (c.Data) belongs to the driver: the handler copies
// what it needs and calls Center.Release before it returns.
type CompletionFunc func(c *driver.Completion)

// compEntry is an fd's completion-mode state.
type compEntry struct {
	fn         CompletionFunc
	recv, send bool   // a receive armed, a send in flight
	then       func() // Quiesce: runs once neither is left
	quiescing  bool
}

// Completion reports whether completion mode is on (IOCompletion, and a
// driver that offers it).
func (c *Center) Completion() bool { return c.cpl != nil }

// comp returns fd's entry, growing the table. Owner only.
func (c *Center) comp(fd int) *compEntry {
	if fd >= len(c.comps) {
		comps := make([]compEntry, max(2*len(c.comps), fd+1, 64))
		copy(comps, c.comps)
		c.comps = comps
	}
	return &c.comps[fd]
}

// Recv arms a multishot receive on fd whose completions go to fn. Owner
// only.
func (c *Center) Recv(fd int, fn CompletionFunc) error {
	c.checkOwner("Recv")
	if c.cpl == nil || fd < 0 || fn == nil {
		return fmt.Errorf("center %d: Recv(%d): completion mode off, bad fd or nil handler", c.cfg.ID, fd)
	}
	e := c.comp(fd)
	if e.quiescing {
		return fmt.Errorf("center %d: Recv(%d): the fd is being quiesced", c.cfg.ID, fd)
	}
	if err := c.cpl.Recv(fd); err != nil {
		return fmt.Errorf("center %d: %w", c.cfg.ID, err)
	}
	e.fn, e.recv = fn, true
	return nil
}

// Send sends bufs on fd with one gathered write; its completion goes to
// fn. bufs' memory must not change until then; one send at a time per fd.
// Owner only.
func (c *Center) Send(fd int, bufs [][]byte, fn CompletionFunc) error {
	c.checkOwner("Send")
	if c.cpl == nil || fd < 0 || fn == nil {
		return fmt.Errorf("center %d: Send(%d): completion mode off, bad fd or nil handler", c.cfg.ID, fd)
	}
	e := c.comp(fd)
	if e.quiescing {
		return fmt.Errorf("center %d: Send(%d): the fd is being quiesced", c.cfg.ID, fd)
	}
	if err := c.cpl.Send(fd, bufs); err != nil {
		return fmt.Errorf("center %d: %w", c.cfg.ID, err)
	}
	e.fn, e.send = fn, true
	c.submit = true // at the end of the turn: see flushSends
	return nil
}

// CancelRecv ends fd's receive; its final completion still reaches the
// handler (Res -ECANCELED, or whatever ended it first). Owner only.
func (c *Center) CancelRecv(fd int) error {
	c.checkOwner("CancelRecv")
	if c.cpl == nil || fd < 0 || fd >= len(c.comps) || !c.comps[fd].recv {
		return nil
	}
	if err := c.cpl.Cancel(fd, driver.OpRecv); err != nil {
		return fmt.Errorf("center %d: %w", c.cfg.ID, err)
	}
	return nil
}

// Release gives a receive's buffer back to the driver.
func (c *Center) Release(cp *driver.Completion) {
	if c.cpl != nil {
		c.cpl.Release(cp)
	}
}

// Quiesce ends fd's receive and send and runs then on the loop once the
// driver holds nothing of fd: at once when nothing is in flight,
// otherwise after their final completions, which no longer reach the
// handler (their buffers are released). Only then may fd be closed or
// handed to another center. A second Quiesce before the first finished
// is an error, and so is a failed cancel (then runs not at all: the
// caller decides). Owner only.
func (c *Center) Quiesce(fd int, then func()) error {
	c.checkOwner("Quiesce")
	if c.cpl == nil || fd < 0 || fd >= len(c.comps) {
		then() // never in completion mode
		return nil
	}
	e := &c.comps[fd]
	switch {
	case e.quiescing:
		return fmt.Errorf("center %d: Quiesce(%d): already quiescing", c.cfg.ID, fd)
	case !e.recv && !e.send:
		*e = compEntry{}
		then()
		return nil
	}
	// Cancel first: on an error nothing is marked, and the caller, told,
	// goes on without waiting.
	if err := c.cpl.Cancel(fd, 0); err != nil {
		return fmt.Errorf("center %d: %w", c.cfg.ID, err)
	}
	e.quiescing, e.then, e.fn = true, then, nil
	return nil
}

// dispatchCompletions runs the handlers of the pending completions (those
// the last poll took, then any the driver still holds) and returns how
// many there were.
func (c *Center) dispatchCompletions() int {
	total := 0
	for {
		if c.cn == 0 {
			c.cn = c.cpl.Completions(c.cbuf)
			if c.cn == 0 {
				return total
			}
		}
		n := c.cn
		c.cn = 0 // a handler's Recv or Send may poll no one, but keep it clean
		total += n
		for i := range n {
			c.complete(&c.cbuf[i])
		}
		clear(c.cbuf[:n]) // drop the Data references
	}
}

// complete hands one completion to its fd's handler, or, for an fd being
// quiesced, releases it and finishes the quiesce after the last one.
func (c *Center) complete(cp *driver.Completion) {
	fd := int(cp.Fd)
	if fd < 0 || fd >= len(c.comps) {
		c.cpl.Release(cp)
		return
	}
	e := &c.comps[fd]
	if !cp.More {
		switch cp.Op {
		case driver.OpRecv:
			e.recv = false
		case driver.OpSend:
			e.send = false
		}
	}
	c.st.completions.Add(1)
	if e.quiescing {
		c.cpl.Release(cp)
		if !e.recv && !e.send {
			then := e.then
			*e = compEntry{}
			then()
		}
		return
	}
	if e.fn == nil {
		c.cpl.Release(cp) // nobody's: an fd whose user forgot it
		return
	}
	e.fn(cp)
}

// endQuiesces runs the functions of the quiesces still waiting when the
// center closes: closing the driver ended their fds' requests.
func (c *Center) endQuiesces() {
	for fd := range c.comps {
		if e := &c.comps[fd]; e.quiescing {
			then := e.then
			*e = compEntry{}
			then()
		}
	}
}

// flushSends submits the turn's sends in one system call (an empty Wait
// only submits), at the end of the turn: before the busy worker yields,
// not at the next turn's poll, which comes after the yield (2-3 µs later
// on a shared P, per message, in a ping-pong).
func (c *Center) flushSends() {
	if c.submit {
		c.submit = false
		if _, err := c.drv.Wait(c.events[:0], 0); err != nil {
			c.st.waitErrors.Add(1)
			c.cfg.Logger.Error("center: submit failed", "center", c.cfg.ID, "err", err)
		}
	}
}
