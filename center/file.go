package center

import (
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/driver"
)

// FileFunc handles readiness of fd. fired holds the conditions that fired
// and are still registered.
type FileFunc func(fd int, fired driver.Mask)

type fileEntry struct {
	mask driver.Mask
	fn   FileFunc
}

// AddFile adds mask to fd's interest and sets fd's handler (Ceph's
// create_file_event). The table is indexed by fd and grows as needed. Owner
// only.
//
// An error means the driver refused fd (a closed fd, the kernel out of
// memory): the caller's file is not armed and must fail. Calling it off
// the owner panics.
func (c *Center) AddFile(fd int, mask driver.Mask, fn FileFunc) error {
	c.checkOwner("AddFile")
	if fd < 0 || fn == nil {
		return fmt.Errorf("center %d: AddFile(%d): bad fd or nil handler", c.cfg.ID, fd)
	}
	if fd >= len(c.files) {
		n := len(c.files) * 2
		for n <= fd {
			n *= 2
		}
		files := make([]fileEntry, n)
		copy(files, c.files)
		c.files = files
	}
	e := &c.files[fd]
	if e.mask&mask != mask {
		if err := c.drv.Add(fd, e.mask, mask); err != nil {
			return fmt.Errorf("center %d: add fd %d %s: %w", c.cfg.ID, fd, mask, err)
		}
		if e.mask == driver.None {
			c.nfiles++
			// The fired-events buffer grows before the next wait, never
			// here: AddFile may run inside dispatch, which is still reading
			// the current buffer.
		}
		e.mask |= mask
	}
	e.fn = fn
	return nil
}

// DelFile removes mask from fd's interest; with nothing left the fd leaves
// the driver and the table (Ceph's delete_file_event). Owner only.
// An error is the driver's; the interest may still be registered.
func (c *Center) DelFile(fd int, mask driver.Mask) error {
	c.checkOwner("DelFile")
	if fd < 0 || fd >= len(c.files) {
		return nil
	}
	e := &c.files[fd]
	if e.mask&mask == driver.None {
		return nil
	}
	if err := c.drv.Del(fd, e.mask, mask); err != nil {
		return fmt.Errorf("center %d: del fd %d %s: %w", c.cfg.ID, fd, mask, err)
	}
	e.mask &^= mask
	if e.mask == driver.None {
		e.fn = nil
		c.nfiles--
	}
	return nil
}

// FileMask returns fd's registered interest. Owner only.
func (c *Center) FileMask(fd int) driver.Mask {
	if fd < 0 || fd >= len(c.files) {
		return driver.None
	}
	return c.files[fd].mask
}

// dispatch runs the handlers of n fired events. The mask is re-read before
// each handler, because an earlier handler in the batch may have removed it.
func (c *Center) dispatch(n int) {
	for i := 0; i < n; i++ {
		ev := c.events[i]
		fd := int(ev.Fd)
		if fd >= len(c.files) {
			continue
		}
		e := c.files[fd]
		fired := ev.Mask & e.mask
		if fired == driver.None {
			continue
		}
		fired |= ev.Mask & driver.Hangup
		c.st.fileEvents.Add(1)
		e.fn(fd, fired)
	}
}

// AddTimer arms t to fire after d, rounded up to the wheel's tick; an armed
// timer is re-armed. Owner only (it panics elsewhere).
func (c *Center) AddTimer(t *Timer, d time.Duration) {
	c.checkOwner("AddTimer")
	c.wheel.add(t, c.now(), d)
}

// CancelTimer disarms t and reports whether it was armed. Owner only (it
// panics elsewhere).
func (c *Center) CancelTimer(t *Timer) bool {
	c.checkOwner("CancelTimer")
	return c.wheel.cancel(t)
}

// Timers returns the number of armed timers. Owner only.
func (c *Center) Timers() int { return c.wheel.count }
