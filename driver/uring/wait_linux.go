package uring

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// Wait submits the queued interest changes and waits for events in one
// io_uring_enter, then converts the completions. It returns no events only
// once the timeout has passed: an interrupted wait, or one that brought
// only internal or stale completions, waits again (queue_linux.go has the
// policy for io_uring_enter's errors).
func (d *Driver) Wait(events []driver.Event, timeout time.Duration) (int, error) {
	if d.r == nil {
		return 0, fmt.Errorf("uring: wait: %w", os.ErrClosed)
	}
	if len(events) == 0 {
		// Nothing can be returned, so waiting could only spin: submit.
		return 0, wrapErr(d.r.submit())
	}
	d.seq++
	if d.bufs != nil {
		d.bufs.publish() // buffers released since the last submission
	}
	n, err := d.reap(events, 0)
	if err != nil {
		return n, err
	}
	if n > 0 || timeout == 0 || len(d.done) > 0 {
		// Poll: submit, and let the kernel post what it owes.
		if err := d.r.getEvents(n > 0); err != nil {
			return n, wrapErr(err)
		}
		return d.reap(events, n)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		left := time.Duration(-1)
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				return 0, nil
			}
		}
		if err := d.r.submitAndWait(left); err != nil {
			return 0, wrapErr(err)
		}
		if n, err = d.reap(events, 0); n > 0 || err != nil || len(d.done) > 0 {
			return n, err
		}
	}
}

// wrapErr adds the package prefix to a ring error.
func wrapErr(err error) error {
	if err != nil {
		return fmt.Errorf("uring: %w", err)
	}
	return nil
}

// reap converts the completions in the CQ into events[n:] (and
// completion-mode results into d.done), stopping when events is full, and
// returns the new count.
func (d *Driver) reap(events []driver.Event, n int) (int, error) {
	r := d.r
	head := r.head
	tail := r.cqTailAcquire()
	var err error
	for head != tail && n < len(events) {
		c := r.cqeAt(head)
		ud, res, flags := c.userData, c.res, c.flags
		head++
		switch ud >> 56 {
		case kindPoll:
		case kindRecv, kindSend, kindCancel:
			d.completed(ud>>56, int32(ud), res, flags)
			continue
		default:
			continue // update and remove results: ENOENT is an expected race
		}
		var e error
		n, e = d.pollCompleted(events, n, int32(ud), uint32(ud>>32)&genMask, res, flags)
		if e != nil && err == nil {
			err = e
		}
	}
	r.cqRelease(head)
	return n, err
}

// pollCompleted handles one CQE of a multishot poll.
func (d *Driver) pollCompleted(events []driver.Event, n int, fd int32, gen uint32, res int32, flags uint32) (int, error) {
	if fd < 0 || int(fd) >= len(d.files) {
		return n, nil
	}
	f := &d.files[fd]
	if f.mask == driver.None || f.gen != gen {
		return n, nil // from a registration that Del or a new Add ended
	}
	var m driver.Mask
	var err error
	if flags&cqeFMore == 0 {
		// The kernel ended this poll (CQ overflow, cancellation, error).
		f.armed = false
		if res >= 0 || res == -int32(unix.ECANCELED) {
			err = d.queueArm(int(fd), f)
		}
	}
	switch {
	case res == -int32(unix.ECANCELED):
	case res < 0:
		m = driver.ReadWrite // let the handlers find the error
	default:
		ev := uint32(res)
		if ev&pollIn != 0 {
			m |= driver.Readable
		}
		if ev&pollOut != 0 {
			m |= driver.Writable
		}
		// A completion queued before an interest change may carry a
		// condition no longer watched.
		m &= f.mask
		if ev&(pollErr|pollHup|pollRdHup) != 0 {
			m = driver.ReadWrite | driver.Hangup
		}
	}
	if m == driver.None {
		return n, err
	}
	if f.seq == d.seq && int(f.idx) < n && events[f.idx].Fd == fd {
		events[f.idx].Mask |= m
		return n, err
	}
	f.seq, f.idx = d.seq, int32(n)
	events[n] = driver.Event{Fd: fd, Mask: m}
	return n + 1, err
}
