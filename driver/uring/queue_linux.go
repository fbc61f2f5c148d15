package uring

// This file is the package's liburing queue.c: the few ring operations that
// both the readiness Driver and the Completion ring are composed from
// (getSQE, submit, getEvents, submitAndWait), with the one policy for the
// errors of io_uring_enter. It uses no unsafe code; the words it reads and
// writes are reached through ring_linux.go's primitives, which state the
// memory ordering of each.
//
// io_uring_enter's errors, handled here once for every caller:
//
//   - EINTR: a signal (often the Go runtime's preemption signal, SIGURG)
//     interrupted the call before it did anything it reports. A call that
//     does not wait is made again at once: it cannot block, so retrying
//     cannot hang. A wait returns nil, like a wake-up that brought nothing
//     new: its caller reaps and decides whether to wait again (Driver.Wait
//     waits on until its deadline, or without end when it has none, as the
//     Go runtime's netpoll does after EINTR in an unbounded wait).
//   - EBUSY, EAGAIN: the kernel wants completions reaped before it takes
//     more work. EBUSY comes when overflowed completions could not all be
//     flushed into a full CQ (IORING_FEAT_NODROP), EAGAIN when the kernel
//     had no memory for a request just then. Neither is reported: the SQEs
//     the kernel did not take stay queued (the SQ head says which) and go
//     with the next enter, after the caller has reaped; a wait returns as
//     if woken.
//   - ETIME: a timed wait ran out. It returns nil; the caller finds the CQ
//     empty.
//
// Any other errno is returned as an *os.SyscallError.

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// getSQE returns a zeroed SQE at the local tail to fill in. When the SQ is
// full it first submits what is queued, so interest changes beyond the SQ
// size are submitted early, never lost.
func (r *ring) getSQE() (*sqe, error) {
	if s := r.nextSQE(); s != nil {
		return s, nil
	}
	if err := r.submit(); err != nil {
		return nil, err
	}
	if s := r.nextSQE(); s != nil {
		return s, nil
	}
	// The kernel took none of them (EBUSY or EAGAIN above): the caller
	// has to reap first.
	return nil, fmt.Errorf("submission queue full: %w", unix.EBUSY)
}

// submit hands every queued SQE to the kernel without waiting
// (io_uring_submit). It asks for completion work only when the kernel
// flags an overflow, which must be flushed before it takes more.
func (r *ring) submit() error {
	var flags uint32
	if r.sqRingFlags()&sqCQOverflow != 0 {
		flags = enterGetEvents
	}
	return r.enterNoWait(r.publish(), flags)
}

// getEvents submits what is queued and lets the kernel post the
// completions it owes (run deferred task work, flush an overflow) without
// waiting: liburing's io_uring_get_events with a submit. The system call
// is skipped when nothing is queued and the kernel owes nothing, as
// liburing's peek does. haveCQEs says whether the caller already has
// completions in hand: a DEFER_TASKRUN ring without TASKRUN_FLAG cannot
// tell that it owes work, so it is then entered whenever the caller has
// none.
func (r *ring) getEvents(haveCQEs bool) error {
	pending := r.publish()
	if pending == 0 && !r.owesWork(haveCQEs) {
		return nil
	}
	return r.enterNoWait(pending, enterGetEvents)
}

// owesWork reports whether the kernel may hold completions that it posts
// only when we enter.
func (r *ring) owesWork(haveCQEs bool) bool {
	if r.sqRingFlags()&(sqCQOverflow|sqTaskrun) != 0 {
		return true
	}
	// With TASKRUN_FLAG the kernel sets sqTaskrun for any pending task
	// work. Without it, a default ring's task work interrupts the
	// submitting thread and runs there, posting on its own; only
	// DEFER_TASKRUN's runs nowhere but inside io_uring_enter.
	return !haveCQEs && r.flags&setupDeferTaskrun != 0 && r.flags&setupTaskrunFlag == 0
}

// enterNoWait makes the io_uring_enter that submits the pending published
// SQEs with flags and does not wait, again on EINTR (see the policy at the
// top). It makes none when there is nothing to submit or ask.
func (r *ring) enterNoWait(pending, flags uint32) error {
	for pending > 0 || flags != 0 {
		_, errno := r.enter(pending, 0, flags, -1)
		switch errno {
		case 0, unix.EBUSY, unix.EAGAIN:
			return nil
		case unix.EINTR:
			pending = r.sqPending()
			continue
		}
		return os.NewSyscallError("io_uring_enter", errno)
	}
	return nil
}

// submitAndWait submits what is queued and waits until the CQ holds at
// least one completion or timeout has passed (negative: no limit), in one
// io_uring_enter (io_uring_submit_and_wait_timeout). It may return without
// a completion (see the policy at the top); the caller reaps either way.
func (r *ring) submitAndWait(timeout time.Duration) error {
	_, errno := r.enter(r.publish(), 1, enterGetEvents, timeout)
	switch errno {
	case 0, unix.EINTR, unix.EBUSY, unix.EAGAIN, unix.ETIME:
		return nil
	}
	return os.NewSyscallError("io_uring_enter", errno)
}
