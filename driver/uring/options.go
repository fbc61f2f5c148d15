package uring

// Options are the io_uring-specific settings of a Driver. The zero value is
// the registered default: safe to use from any goroutine.
type Options struct {
	// Entries is the submission queue size, rounded up to a power of two.
	// Zero derives it from driver.Config.Events (at least 32, at most
	// 4096). Interest changes beyond it are submitted early, not lost.
	Entries int
	// CQEntries is the completion queue size, rounded up to a power of two.
	// Zero makes it 4 × Config.Events and at least twice Entries. A full
	// queue loses nothing (IORING_FEAT_NODROP) but ends multishot polls,
	// which the driver re-arms at the cost of a possibly repeated event.
	CQEntries int

	// CoopTaskrun sets IORING_SETUP_COOP_TASKRUN|IORING_SETUP_TASKRUN_FLAG
	// (Linux 5.19): completions are run when the submitting thread next
	// enters the kernel instead of interrupting it with an IPI (a sleeping
	// thread is still woken). A poll's completions belong to the thread
	// that submitted it, so the owner should be locked to its OS thread:
	// otherwise a completion waits until that thread, now running other
	// goroutines, next makes a system call or takes a timer tick. The
	// registered driver sets it when driver.Config.OneThread promises
	// such a thread (center's WaitThread). It removes the completion IPIs
	// that otherwise interrupt the worker; what that gained on loopback
	// echo is in bench/RESULTS.md.
	CoopTaskrun bool
	// SingleIssuer sets IORING_SETUP_SINGLE_ISSUER. The kernel then refuses
	// submissions from any thread but the one that created the ring, so the
	// goroutine that calls New must be locked to its OS thread
	// (runtime.LockOSThread) before New and stay locked until Close.
	SingleIssuer bool
	// DeferTaskrun sets IORING_SETUP_DEFER_TASKRUN (it implies
	// SingleIssuer): completion work runs only inside Wait, on the owner
	// thread. Nothing then wakes a goroutine parked on the ring fd, so the
	// Driver does not implement driver.Pollable and the owner blocks in
	// Wait.
	DeferTaskrun bool

	// Buffers is the number of provided receive buffers of completion mode
	// (driver.Config.Completion), a power of two up to 32768 (default
	// 128); BufferBytes is each one's size (default 64 KiB, the
	// messenger's prefetch size: one receive takes as much as one read
	// would). They are mapped once, outside the Go heap, and touched only
	// as the kernel fills them.
	Buffers, BufferBytes int
}
