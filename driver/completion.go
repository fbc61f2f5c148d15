package driver

import "errors"

// Completer is the completion-mode capability: instead of reporting that
// a socket is ready and leaving the system call to the caller, the driver
// receives into buffers it owns and sends from the caller's memory, and
// reports what was done. It is offered by a driver opened with
// Config.Completion (the io_uring driver), in the same driver as its
// readiness events: one Wait serves both, and a socket may move from
// readiness (a non-blocking connect) to completion mode.
//
// The contract, which drivertest checks:
//
//   - Recv arms a multishot receive on fd. Each chunk of bytes arrives as
//     one OpRecv completion whose Data lies in a buffer the driver owns
//     until Release gives it back; chunks arrive in stream order. The
//     receive stays armed (More) until it ends: at end of file (Res 0),
//     on an error (Res -errno), when the driver's buffers ran out (Res
//     -ENOBUFS: release buffers and call Recv again; no byte is lost),
//     when cancelled (Res -ECANCELED), or when the driver ends it for its
//     own reasons (a full completion queue): that last completion may
//     carry data (Res > 0), and the caller arms it again. Its last
//     completion has More false. At most one receive is armed per fd.
//   - Send sends bufs, gathered, with one request; its OpSend completion
//     carries the byte count (all of them unless the connection failed) or
//     -errno. The driver reads bufs after Send returns: it keeps their
//     memory alive until the completion, and it must not change until
//     then. At most one send is in flight per fd (ErrBusy): a second could
//     overtake the first.
//   - Cancel ends fd's receive (op OpRecv), its send (OpSend) or both (op
//     0). Each still ends with its one final completion (More false);
//     once fd has none in flight the driver holds nothing of it: only then
//     may the caller close fd or hand it to another driver. Cancelling
//     both also ends a readiness registration of fd, which the driver
//     re-arms by itself.
//   - Wait returns once completions are pending even if no readiness event
//     fired (it may return 0 events); Completions moves them out. Neither
//     allocates in steady state.
//
// Like the rest of a Driver, a Completer is owned by one goroutine.
type Completer interface {
	// Recv arms a multishot receive on fd.
	Recv(fd int) error
	// Send sends bufs on fd with one gathered request.
	Send(fd int, bufs [][]byte) error
	// Cancel ends fd's receive (OpRecv), send (OpSend) or both (0);
	// their final completions follow.
	Cancel(fd int, op Op) error
	// Completions moves up to len(out) pending completions into out and
	// returns how many.
	Completions(out []Completion) int
	// Release gives a receive's buffer back to the driver; c.Data must not
	// be used afterwards. Releasing a completion without a buffer does
	// nothing.
	Release(c *Completion)
}

// Op is the kind of request a Completion reports.
type Op uint8

// The requests of completion mode.
const (
	OpRecv Op = 1 + iota // Res: bytes received (0: end of file) or -errno
	OpSend               // Res: bytes sent or -errno
)

// String returns "recv" or "send".
func (o Op) String() string {
	switch o {
	case OpRecv:
		return "recv"
	case OpSend:
		return "send"
	}
	return "op?"
}

// Completion is one finished request, or one result of a multishot
// receive.
type Completion struct {
	Op Op
	Fd int32
	// Res is the byte count or a negated errno.
	Res int32
	// More reports that the receive stays armed; false on the request's
	// final completion.
	More bool
	// Data holds the bytes of an OpRecv with Res > 0, in a buffer of the
	// driver's until Release.
	Data []byte
	// Buf identifies Data's buffer for Release (the driver's business;
	// -1 when there is none).
	Buf int32
}

// ErrBusy is returned by Completer.Send while a send is in flight on the
// fd, and by Recv while a receive is armed.
var ErrBusy = errors.New("driver: a request of that kind is already in flight on the fd")
