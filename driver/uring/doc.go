// Package uring is a driver.Driver on io_uring in readiness mode, registered
// under the name "uring".
//
// The driver is linked into a program only when the program imports this
// package: package center links epoll alone. An application that selects
// io_uring by name (center.Config.Driver, driver.Open) imports it blank:
//
//	import _ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring"
//
// Each watched fd has one multishot IORING_OP_POLL_ADD, edge-triggered (the
// kernel's default for io_uring polls unless IORING_POLL_ADD_LEVEL is set),
// whose interest is changed in place with IORING_OP_POLL_REMOVE and
// IORING_POLL_UPDATE_EVENTS and removed with IORING_OP_POLL_REMOVE. Add and
// Del only write SQEs; Wait submits them and waits in a single io_uring_enter.
// A poll's user_data carries the fd and a registration generation, so that
// completions left over from an earlier registration are dropped; a
// multishot poll that the kernel ends (a CQ overflow, a cancellation) is
// re-armed. Several completions for one fd in one Wait are merged into one
// event, as epoll does.
//
// The driver New returns implements driver.Pollable (the ring fd is readable
// when completions are pending) unless Options.DeferTaskrun is set. Opened
// with driver.Config.Completion it also implements driver.Completer:
// multishot receives into a ring of provided buffers (Options.Buffers of
// Options.BufferBytes), gathered sends (a sendmsg, or a send for one
// buffer) whose buffers the driver keeps reachable until they complete, and
// cancellation by fd, beside the readiness polls of the same ring
// (complete_linux.go).
//
// Because the poll request holds a reference to the file, an fd must be
// removed with Del before it is closed (with epoll, closing it is enough);
// otherwise the file stays open until the Driver is closed.
//
// The system calls are made directly through golang.org/x/sys/unix. The
// rings' layout, mmap and memory ordering live in ring_linux.go, the memory
// completion mode lends the kernel in buffers_linux.go (the only two files
// with unsafe code), and the few ring operations that the Driver and the
// experimental Completion ring are both built from (get an SQE, submit,
// poll, wait), with the one policy for io_uring_enter's EINTR, EBUSY and
// EAGAIN, in queue_linux.go.
//
// New returns a *driver.UnsupportedError when the kernel refuses io_uring
// (ENOSYS, EPERM, kernel.io_uring_disabled) or lacks what the driver needs
// (5.13: multishot poll, IORING_FEAT_NODROP, IORING_FEAT_EXT_ARG), and on
// systems other than Linux, where it wraps errors.ErrUnsupported. The
// experimental Completion ring exists only on Linux.
//
//	d, err := uring.New(driver.Config{Events: 1024}, uring.Options{})
//	var unsup *driver.UnsupportedError
//	if errors.As(err, &unsup) {
//		// fall back to epoll
//	}
package uring
