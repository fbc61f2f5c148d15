package uring

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Completion mode: the kernel accepts, receives into buffers the ring owns
// (a provided-buffer ring) and sends, and the owner learns what was done
// from the completions, instead of being told that a socket is ready and
// making the system calls itself. A multishot receive stays armed and fills
// one provided buffer per completion; a multishot accept gives one new fd
// per completion. It is the experimental first step of docs/ARCHITECTURE.md's
// completion mode: a ring of its own, used directly (bench/echo's
// CompletionServer), not yet a driver.Driver that center and conn use.

// Opcodes and flags of completion mode.
const (
	opSendMsg = 9
	opAccept  = 13
	opSend    = 26
	opRecv    = 27

	sqeBufferSelect = 1 << 5 // IOSQE_BUFFER_SELECT
	recvMultishot   = 1 << 1 // IORING_RECV_MULTISHOT, in sqe.ioprio
	acceptMultishot = 1 << 0 // IORING_ACCEPT_MULTISHOT, in sqe.ioprio

	cqeFBuffer     = 1 << 0 // IORING_CQE_F_BUFFER: the buffer id is in flags >> 16
	cqeBufferShift = 16

	msgWaitAll = 0x100 // MSG_WAITALL: a send completes only when all is sent
)

// Op is the kind of request a Completed reports.
type Op uint8

// The requests of completion mode.
const (
	OpAccept Op = 1 + iota // Res is the new fd
	OpRecv                 // Res is the byte count (0: end of file), Data the bytes
	OpSend                 // Res is the byte count
)

// Completed is one finished request (or one result of a multishot one).
type Completed struct {
	Op  Op
	Tag uint64 // the caller's tag, as given to Accept, Recv or Send
	// Res is the result: a count or fd, or a negated errno (-ENOBUFS: the
	// receive ran out of provided buffers and ended).
	Res int32
	// More reports that a multishot accept or receive stays armed; when
	// it is false the request has ended and must be started again.
	More bool
	// Data holds the received bytes of an OpRecv with Res > 0. They live
	// in a provided buffer that the ring reuses once Release gives it back.
	Data []byte
	bid  uint16
	buf  bool
}

// Buffer returns the id of the provided buffer that holds Data, and
// whether there is one.
func (c *Completed) Buffer() (uint16, bool) { return c.bid, c.buf }

// CompletionOptions configure a Completion. The zero value is usable.
type CompletionOptions struct {
	// Entries is the submission queue size (default 256); the completion
	// queue is 8 times larger.
	Entries int
	// Buffers is the number of provided receive buffers, a power of two
	// (default 1024); BufferSize is each one's size (default 16 KiB).
	Buffers, BufferSize int
	// Ring holds the setup flags. Completion mode is meant for a goroutine
	// locked to its OS thread, with CoopTaskrun.
	Ring Options
}

// Completion is an io_uring instance in completion mode, with one
// provided-buffer ring for receives. Like a driver, it is owned by one
// goroutine.
type Completion struct {
	r     *ring
	bufs  bufRing
	sends sendPins
}

// NewCompletion sets up a ring in completion mode. It returns a
// *driver.UnsupportedError when the kernel refuses io_uring or provided
// buffer rings (Linux 5.19; multishot receive needs 6.0).
func NewCompletion(opts CompletionOptions) (*Completion, error) {
	entries := pow2(opts.Entries, 1, 4096)
	if opts.Entries == 0 {
		entries = 256
	}
	nbuf := opts.Buffers
	if nbuf == 0 {
		nbuf = 1024
	}
	if nbuf&(nbuf-1) != 0 || nbuf > 1<<15 {
		return nil, fmt.Errorf("uring: completion: Buffers %d is not a power of two up to 32768", nbuf)
	}
	size := opts.BufferSize
	if size <= 0 {
		size = 16 << 10
	}
	r, err := newRing(entries, 8*entries, opts.Ring.setupFlags())
	if err != nil {
		return nil, setupFailed(err, opts.Ring.setupFlags())
	}
	c := &Completion{r: r}
	if err := c.bufs.setup(r, nbuf, size); err != nil {
		return nil, withCleanup(err, c.Close())
	}
	return c, nil
}

// Release gives the provided buffer of a received completion back to the
// ring. Data must not be used afterwards.
func (c *Completion) Release(cp *Completed) {
	if cp.buf {
		c.bufs.give(cp.bid)
		cp.buf, cp.Data = false, nil
	}
}

// ReleaseBuffer gives provided buffer bid back, for a caller that kept the
// id (Completed.Buffer) rather than the Completed.
func (c *Completion) ReleaseBuffer(bid uint16) { c.bufs.give(bid) }

// sqe returns an SQE to fill in, giving the kernel the released buffers
// first when the SQ is full and must be submitted.
func (c *Completion) sqe() (*sqe, error) {
	c.bufs.publish()
	s, err := c.r.getSQE()
	if err != nil {
		return nil, fmt.Errorf("uring: completion: %w", err)
	}
	return s, nil
}

// completionData packs the caller's tag (56 bits) with the op. A send
// carries the slot of its pins (see sendPins) in place of the tag.
func completionData(op Op, tag uint64) uint64 { return tag<<8 | uint64(op) }

// Accept arms a multishot accept on the listening socket fd: each
// connection arrives as an OpAccept completion whose Res is the new fd
// (close-on-exec, blocking: io_uring needs no O_NONBLOCK).
func (c *Completion) Accept(fd int, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	s.opcode, s.fd, s.ioprio = opAccept, int32(fd), acceptMultishot
	s.opFlags = unix.SOCK_CLOEXEC
	s.userData = completionData(OpAccept, tag)
	return nil
}

// Recv arms a multishot receive on fd into the provided buffers: each
// chunk of data arrives as an OpRecv completion.
func (c *Completion) Recv(fd int, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	s.opcode, s.fd, s.flags, s.ioprio = opRecv, int32(fd), sqeBufferSelect, recvMultishot
	s.bufIndex = 0 // buffer group 0
	s.userData = completionData(OpRecv, tag)
	return nil
}

// Send sends b on fd; the OpSend completion comes when all of it was sent
// (MSG_WAITALL) or the send failed. The kernel reads b after Send returns,
// so b's array is pinned (runtime.Pinner) until the completion is reaped:
// it stays alive and in place even if the caller drops it, and an array
// that would have lived on the caller's stack is put on the heap. b must
// not change until then. A provided buffer (Completed.Data) needs no pin.
// Two sends on one socket may complete in either order, and a send that had
// to wait may even reach the wire after a later one: keep one send in
// flight per socket.
func (c *Completion) Send(fd int, b []byte, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	slot, pin := c.sends.get(tag)
	s.opcode, s.fd = opSend, int32(fd)
	if len(b) > 0 {
		s.addr = pinAddr(pin, &b[0])
	}
	s.len = uint32(len(b))
	s.opFlags = msgWaitAll
	s.userData = completionData(OpSend, uint64(slot))
	return nil
}

// SendMsg sends the buffers msg's iovecs point at on fd with one sendmsg
// (MSG_WAITALL); its OpSend completion carries the byte count. As with
// Send, msg, its name, control and iovec array and the buffers are pinned
// until the completion is reaped, and must not change until then. The
// one-send-in-flight rule of Send applies.
func (c *Completion) SendMsg(fd int, msg *unix.Msghdr, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	slot, pin := c.sends.get(tag)
	s.opcode, s.fd = opSendMsg, int32(fd)
	s.addr = pinMsg(pin, msg)
	s.len = 1
	s.opFlags = msgWaitAll
	s.userData = completionData(OpSend, uint64(slot))
	return nil
}

// Wait submits what is queued, waits until at least one completion is
// there (for at most timeout; negative: no limit; zero: do not wait), and
// stores up to len(out) of them. It may return none before the timeout
// (an interrupted wait: queue_linux.go has the policy). Completed.Data of a
// receive stays valid until the buffer is released.
func (c *Completion) Wait(out []Completed, timeout time.Duration) (int, error) {
	c.bufs.publish()
	if len(out) == 0 {
		return 0, c.wrapErr(c.r.submit())
	}
	n := c.reap(out)
	if n > 0 || timeout == 0 {
		if err := c.r.getEvents(n > 0); err != nil {
			return n, c.wrapErr(err)
		}
		return n + c.reap(out[n:]), nil
	}
	if err := c.r.submitAndWait(timeout); err != nil {
		return 0, c.wrapErr(err)
	}
	return c.reap(out), nil
}

func (c *Completion) wrapErr(err error) error {
	if err != nil {
		return fmt.Errorf("uring: completion: %w", err)
	}
	return nil
}

// reap converts the CQEs into out. A send's completion unpins its memory.
func (c *Completion) reap(out []Completed) int {
	r := c.r
	head, tail := r.head, r.cqTailAcquire()
	n := 0
	for head != tail && n < len(out) {
		e := r.cqeAt(head)
		head++
		cp := &out[n]
		*cp = Completed{Op: Op(e.userData & 0xff), Tag: e.userData >> 8, Res: e.res, More: e.flags&cqeFMore != 0}
		if cp.Op == OpSend {
			cp.Tag = c.sends.done(cp.Tag)
		}
		if e.flags&cqeFBuffer != 0 {
			cp.bid, cp.buf = uint16(e.flags>>cqeBufferShift), true
			cp.Data = c.bufs.data(cp.bid, e.res)
		}
		n++
	}
	r.cqRelease(head)
	return n
}

// Close closes the ring (the kernel cancels what is still armed), unmaps
// the buffers and unpins the memory of sends still in flight (the ring's
// teardown cancels them). Buffers handed out must not be used afterwards.
func (c *Completion) Close() error {
	var errs []error
	if c.r != nil {
		errs = append(errs, c.r.close())
		c.r = nil
	}
	errs = append(errs, c.bufs.close()...)
	c.sends.unpinAll()
	return errors.Join(errs...)
}

// sendPins keeps the memory of each send in flight pinned from its
// submission until its completion is reaped. A send's user_data carries
// its slot here; the slot keeps the caller's tag. Slots are reused, so
// steady state allocates nothing.
type sendPins struct {
	slots []*sendSlot
	free  []uint32 // indexes of unused slots
}

type sendSlot struct {
	pin  runtime.Pinner
	tag  uint64
	used bool
}

// get takes a free slot for a send tagged tag and returns its index and
// pinner.
func (p *sendPins) get(tag uint64) (uint32, *runtime.Pinner) {
	if len(p.free) == 0 {
		p.slots = append(p.slots, &sendSlot{})
		p.free = append(p.free, uint32(len(p.slots)-1))
	}
	i := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	sl := p.slots[i]
	sl.tag, sl.used = tag, true
	return i, &sl.pin
}

// done unpins the memory of the send in slot i, frees the slot and returns
// the send's tag. A slot not in use (which only a broken kernel could
// report) comes back as its own number.
func (p *sendPins) done(i uint64) uint64 {
	if i >= uint64(len(p.slots)) || !p.slots[i].used {
		return i
	}
	sl := p.slots[i]
	sl.pin.Unpin()
	sl.used = false
	p.free = append(p.free, uint32(i))
	return sl.tag
}

// inFlight returns how many sends hold pins.
func (p *sendPins) inFlight() int { return len(p.slots) - len(p.free) }

// unpinAll releases every slot.
func (p *sendPins) unpinAll() {
	for i, sl := range p.slots {
		if sl.used {
			p.done(uint64(i))
		}
	}
}
