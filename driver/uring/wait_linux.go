package uring

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// Wait submits the queued interest changes and waits for events in one
// io_uring_enter, then converts the completions. With a positive timeout it
// returns no events only once the timeout has passed, even if interrupted.
func (d *Driver) Wait(events []driver.Event, timeout time.Duration) (int, error) {
	if d.r == nil {
		return 0, fmt.Errorf("uring: wait: %w", os.ErrClosed)
	}
	if len(events) == 0 {
		// Nothing can be returned, so waiting could only spin: submit.
		if err := d.submit(); err != nil {
			return 0, fmt.Errorf("uring: %w", err)
		}
		return 0, nil
	}
	d.seq++
	n, err := d.reap(events, 0)
	if err != nil {
		return n, err
	}
	r := d.r
	if n > 0 || timeout == 0 {
		// Poll: submit, and let the kernel run completion work and flush
		// an overflow (GETEVENTS with min_complete 0 does not block).
		pending := r.publish()
		if pending == 0 && n > 0 && r.sqRingFlags()&(sqCQOverflow|sqTaskrun) == 0 {
			return n, nil
		}
		if _, errno := r.enter(pending, 0, enterGetEvents, -1); errno != 0 && !retryable(errno) {
			return n, fmt.Errorf("uring: %w", os.NewSyscallError("io_uring_enter", errno))
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
		pending := r.publish()
		_, errno := r.enter(pending, 1, enterGetEvents, left)
		switch {
		case errno == 0, errno == unix.ETIME, retryable(errno):
		case errno == unix.EINTR:
			// Task work and signals interrupt the wait. Without a timeout
			// that ends Wait (0 events is allowed); with one, waiting
			// goes on below until the deadline, so that Wait never
			// returns early without events.
			if timeout < 0 {
				return d.reap(events, 0)
			}
		default:
			return 0, fmt.Errorf("uring: %w", os.NewSyscallError("io_uring_enter", errno))
		}
		if n, err = d.reap(events, 0); n > 0 || err != nil {
			return n, err
		}
		// Only internal or stale completions came: wait again.
	}
}

// retryable reports the io_uring_enter errors after which reaping the CQ
// and entering again makes progress: EBUSY (overflowed completions could not
// all be flushed into a full CQ) and EAGAIN (no memory for a request now).
func retryable(errno unix.Errno) bool { return errno == unix.EBUSY || errno == unix.EAGAIN }

// reap converts the completions in the CQ into events[n:], stopping when
// events is full, and returns the new count.
func (d *Driver) reap(events []driver.Event, n int) (int, error) {
	r := d.r
	head := r.head
	tail := r.cqTailAcquire()
	var err error
	for head != tail && n < len(events) {
		c := r.cqeAt(head)
		ud, res, flags := c.userData, c.res, c.flags
		head++
		if ud>>56 != kindPoll {
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
