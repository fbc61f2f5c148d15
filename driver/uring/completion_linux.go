package uring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// Completion mode: the kernel accepts, receives into buffers the ring owns
// (a provided-buffer ring) and sends, and the owner learns what was done
// from the completions, instead of being told that a socket is ready and
// making the system calls itself. A multishot receive stays armed and fills
// one provided buffer per completion; a multishot accept gives one new fd
// per completion. It is the experimental first step of docs/ARCHITECTURE.md's
// completion mode: a ring of its own, used directly (bench/echo's
// CompletionServer), not yet a driver.Driver that center and conn use.

// Opcodes, flags and register codes of completion mode.
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

	registerPbufRing = 22 // IORING_REGISTER_PBUF_RING

	msgWaitAll = 0x100 // MSG_WAITALL: a send completes only when all is sent
)

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// ringBuf is struct io_uring_buf, one entry of a provided-buffer ring. The
// ring's tail is a uint16 at byte 14, over the first entry's resv field.
type ringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

var (
	_ [40 - unsafe.Sizeof(bufReg{})]byte
	_ [unsafe.Sizeof(bufReg{}) - 40]byte
	_ [16 - unsafe.Sizeof(ringBuf{})]byte
	_ [unsafe.Sizeof(ringBuf{}) - 16]byte
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
	r       *ring
	size    int    // provided buffer size
	bufs    []byte // the buffers, one mmap
	brMem   []byte // the provided-buffer ring
	br      []ringBuf
	brMask  uint16
	brTail  uint16 // local tail: entries written up to here
	brDirty bool   // brTail not yet published
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
	c := &Completion{r: r, size: size, brMask: uint16(nbuf - 1)}
	if err := c.setupBuffers(nbuf); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Completion) setupBuffers(n int) error {
	var err error
	anon := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	// Buffers are touched only when the kernel fills them: no MAP_POPULATE.
	if c.bufs, err = unix.Mmap(-1, 0, n*c.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("uring: completion: mmap buffers: %w", err)
	}
	// The ring memory must be page aligned: mmap gives that.
	if c.brMem, err = unix.Mmap(-1, 0, n*int(unsafe.Sizeof(ringBuf{})), unix.PROT_READ|unix.PROT_WRITE, anon); err != nil {
		return fmt.Errorf("uring: completion: mmap buffer ring: %w", err)
	}
	c.br = unsafe.Slice((*ringBuf)(unsafe.Pointer(&c.brMem[0])), n)
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&c.brMem[0]))), ringEntries: uint32(n)}
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(c.r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0)
	if errno != 0 {
		e := fmt.Errorf("io_uring_register(PBUF_RING): %w", errno)
		if errno == unix.EINVAL || errno == unix.ENOSYS || errno == unix.EPERM {
			return &driver.UnsupportedError{Driver: Name, Err: e}
		}
		return e
	}
	for bid := 0; bid < n; bid++ {
		c.give(uint16(bid))
	}
	c.publishBuffers()
	return nil
}

// give puts buffer bid back at the local tail of the provided-buffer ring.
func (c *Completion) give(bid uint16) {
	e := &c.br[c.brTail&c.brMask]
	e.addr = uint64(uintptr(unsafe.Pointer(&c.bufs[int(bid)*c.size])))
	e.len = uint32(c.size)
	e.bid = bid
	c.brTail++
	c.brDirty = true
}

// publishBuffers makes the buffers given back visible to the kernel.
func (c *Completion) publishBuffers() {
	if !c.brDirty {
		return
	}
	c.brDirty = false
	// The tail is the uint16 at byte 14 of the ring, the upper half of
	// the 32-bit word at byte 12 whose lower half is entry 0's bid (ours
	// too). Go has no 16-bit atomic store, so store-release the whole word,
	// with entry 0's bid unchanged: the entry writes above happen before.
	w := (*uint32)(unsafe.Pointer(&c.brMem[12]))
	atomic.StoreUint32(w, uint32(c.br[0].bid)|uint32(c.brTail)<<16)
}

// Release gives the provided buffer of a received completion back to the
// ring. Data must not be used afterwards.
func (c *Completion) Release(cp *Completed) {
	if cp.buf {
		c.give(cp.bid)
		cp.buf, cp.Data = false, nil
	}
}

// ReleaseBuffer gives provided buffer bid back, for a caller that kept the
// id (Completed.Buffer) rather than the Completed.
func (c *Completion) ReleaseBuffer(bid uint16) { c.give(bid) }

func (c *Completion) sqe() (*sqe, error) {
	if s := c.r.nextSQE(); s != nil {
		return s, nil
	}
	if err := c.submit(); err != nil {
		return nil, err
	}
	if s := c.r.nextSQE(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("uring: completion: submission queue full: %w", unix.EBUSY)
}

// completionData packs the caller's tag (56 bits) with the op.
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
// (MSG_WAITALL) or the send failed. b must not change and must stay
// reachable until then: a provided buffer (Completed.Data) qualifies. Two
// sends on one socket may complete in either order, and a send that had to
// wait may even reach the wire after a later one: keep one send in flight
// per socket.
func (c *Completion) Send(fd int, b []byte, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	s.opcode, s.fd = opSend, int32(fd)
	if len(b) > 0 {
		s.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	}
	s.len = uint32(len(b))
	s.opFlags = msgWaitAll
	s.userData = completionData(OpSend, tag)
	return nil
}

// SendMsg sends the buffers msg's iovecs point at on fd with one sendmsg
// (MSG_WAITALL); its OpSend completion carries the byte count. msg, its
// iovecs and the buffers must not change and must stay reachable until the
// completion. The one-send-in-flight rule of Send applies.
func (c *Completion) SendMsg(fd int, msg *unix.Msghdr, tag uint64) error {
	s, err := c.sqe()
	if err != nil {
		return err
	}
	s.opcode, s.fd = opSendMsg, int32(fd)
	s.addr = uint64(uintptr(unsafe.Pointer(msg)))
	s.len = 1
	s.opFlags = msgWaitAll
	s.userData = completionData(OpSend, tag)
	return nil
}

// submit hands the queued requests and the given-back buffers to the
// kernel without waiting.
func (c *Completion) submit() error {
	c.publishBuffers()
	for {
		n := c.r.publish()
		if n == 0 {
			return nil
		}
		_, errno := c.r.enter(n, 0, enterGetEvents, -1)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EBUSY, unix.EAGAIN:
			return nil // the CQ is full: reaping makes room
		}
		return fmt.Errorf("uring: completion: %w", os.NewSyscallError("io_uring_enter", errno))
	}
}

// Wait submits what is queued, waits until at least one completion is
// there (for at most timeout; negative: no limit; zero: do not wait), and
// stores up to len(out) of them. Completed.Data of a receive stays valid
// until the buffer is released.
func (c *Completion) Wait(out []Completed, timeout time.Duration) (int, error) {
	if len(out) == 0 {
		return 0, c.submit()
	}
	c.publishBuffers()
	n := c.reap(out)
	pending := c.r.publish()
	if n > 0 || timeout == 0 {
		if pending > 0 || c.r.sqRingFlags()&(sqCQOverflow|sqTaskrun) != 0 {
			if _, errno := c.r.enter(pending, 0, enterGetEvents, -1); errno != 0 && errno != unix.EINTR && !retryable(errno) {
				return n, fmt.Errorf("uring: completion: %w", os.NewSyscallError("io_uring_enter", errno))
			}
		}
		return n + c.reap(out[n:]), nil
	}
	_, errno := c.r.enter(pending, 1, enterGetEvents, timeout)
	switch {
	case errno == 0, errno == unix.ETIME, errno == unix.EINTR, retryable(errno):
	default:
		return 0, fmt.Errorf("uring: completion: %w", os.NewSyscallError("io_uring_enter", errno))
	}
	return c.reap(out), nil
}

// reap converts the CQEs into out.
func (c *Completion) reap(out []Completed) int {
	r := c.r
	head, tail := r.head, r.cqTailAcquire()
	n := 0
	for head != tail && n < len(out) {
		e := r.cqeAt(head)
		head++
		cp := &out[n]
		*cp = Completed{Op: Op(e.userData & 0xff), Tag: e.userData >> 8, Res: e.res, More: e.flags&cqeFMore != 0}
		if e.flags&cqeFBuffer != 0 {
			cp.bid, cp.buf = uint16(e.flags>>cqeBufferShift), true
			if e.res > 0 && int(cp.bid) <= int(c.brMask) {
				off := int(cp.bid) * c.size
				cp.Data = c.bufs[off : off+min(int(e.res), c.size) : off+c.size]
			}
		}
		n++
	}
	r.cqRelease(head)
	return n
}

// Close closes the ring (the kernel cancels what is still armed) and
// unmaps the buffers. Buffers handed out must not be used afterwards.
func (c *Completion) Close() error {
	var errs []error
	if c.r != nil {
		errs = append(errs, c.r.close())
		c.r = nil
	}
	if c.brMem != nil {
		errs = append(errs, unix.Munmap(c.brMem))
		c.brMem, c.br = nil, nil
	}
	if c.bufs != nil {
		errs = append(errs, unix.Munmap(c.bufs))
		c.bufs = nil
	}
	return errors.Join(errs...)
}
