package uring

// This file and buffers_linux.go hold all of the package's unsafe code; no
// other file imports unsafe. This one has the io_uring ABI from
// include/uapi/linux/io_uring.h, the mmap of the rings, the loads and stores
// of the words the kernel shares with us, and the io_uring_enter call;
// buffers_linux.go has the memory completion mode lends the kernel (the
// provided-buffer ring, pinned send buffers).
//
// Memory ordering follows liburing's src/queue.c and io_uring_setup(2):
//   - A ring index written by the other side is read with a load-acquire,
//     so that the entries it publishes are visible before we read them.
//   - A ring index we own is published with a store-release, after every
//     entry it covers has been written (SQ) or read for the last time (CQ).
// Go's sync/atomic operations are sequentially consistent (Go memory model,
// "Synchronization"), which is at least acquire for loads and release for
// stores; the kernel side uses smp_load_acquire/smp_store_release on the same
// words. Plain accesses are used only for words one side owns alone.
//
// queue_linux.go composes the submit and wait operations from the
// primitives at the end of this file.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring_setup flags.
const (
	setupCQSize       = 1 << 3
	setupClamp        = 1 << 4
	setupCoopTaskrun  = 1 << 8
	setupTaskrunFlag  = 1 << 9
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13
)

// Features reported in io_uring_params.features.
const (
	featSingleMmap = 1 << 0
	featNoDrop     = 1 << 1
	featExtArg     = 1 << 8
	featRsrcTags   = 1 << 10 // 5.13, the release that added multishot poll
)

// io_uring_enter flags.
const (
	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3
)

// SQ ring flags (sq_off.flags).
const (
	sqCQOverflow = 1 << 1
	sqTaskrun    = 1 << 2
)

// Opcodes and their flags.
const (
	opPollAdd    = 6
	opPollRemove = 7

	pollAddMulti     = 1 << 0 // IORING_POLL_ADD_MULTI, in sqe.len
	pollUpdateEvents = 1 << 1 // IORING_POLL_UPDATE_EVENTS
	pollAddLevel     = 1 << 3 // IORING_POLL_ADD_LEVEL: absent means edge-triggered

	cqeFMore = 1 << 1 // IORING_CQE_F_MORE: the multishot request stays armed
)

// mmap offsets.
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes), with the union members we use.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // addr2; POLL_REMOVE with UPDATE_USER_DATA: the new user_data
	addr        uint64 // POLL_REMOVE: user_data of the poll request to find
	len         uint32 // POLL_ADD/POLL_REMOVE: IORING_POLL_* flags
	opFlags     uint32 // poll32_events
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (16 bytes, no CQE32).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// kernelTimespec is struct __kernel_timespec: 64-bit fields on every arch.
type kernelTimespec struct {
	sec, nsec int64
}

// getEventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// The ABI sizes; a mismatch fails to compile.
var (
	_ [120 - unsafe.Sizeof(params{})]byte
	_ [unsafe.Sizeof(params{}) - 120]byte
	_ [64 - unsafe.Sizeof(sqe{})]byte
	_ [unsafe.Sizeof(sqe{}) - 64]byte
	_ [16 - unsafe.Sizeof(cqe{})]byte
	_ [unsafe.Sizeof(cqe{}) - 16]byte
	_ [24 - unsafe.Sizeof(getEventsArg{})]byte
)

// ring is one io_uring instance and its mapped queues.
type ring struct {
	fd       int
	features uint32
	flags    uint32 // setup flags in effect

	sqMem, cqMem, sqeMem []byte

	// Submission queue. We produce (tail), the kernel consumes (head).
	sqHead  *uint32 // kernel-written: load-acquire
	sqTail  *uint32 // ours: store-release after the SQEs are written
	sqFlags *uint32 // kernel-written: atomic load
	sqMask  uint32
	sqSize  uint32
	sqes    []sqe
	tail    uint32 // local tail: SQEs written up to here, not all published

	// Completion queue. The kernel produces (tail), we consume (head).
	cqHead *uint32 // ours: store-release after the CQEs are read
	cqTail *uint32 // kernel-written: load-acquire
	cqMask uint32
	cqes   []cqe
	head   uint32 // local copy of *cqHead

	// Arguments of a timed wait. They live here, in a heap object that the
	// ring's owner keeps alive, so their addresses (passed to the kernel as
	// integers inside arg) are stable during the syscall and Wait does not
	// allocate.
	arg getEventsArg
	ts  kernelTimespec
}

// setupError is returned by newRing for a failed io_uring_setup, so that New
// can tell "the kernel refuses io_uring" from other failures.
type setupError struct{ errno unix.Errno }

func (e *setupError) Error() string { return "io_uring_setup: " + e.errno.Error() }
func (e *setupError) Unwrap() error { return e.errno }

// newRing calls io_uring_setup and maps the rings.
func newRing(sqEntries, cqEntries, flags uint32) (*ring, error) {
	p := params{flags: flags | setupCQSize | setupClamp, cqEntries: cqEntries}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sqEntries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, &setupError{errno: errno}
	}
	r := &ring{fd: int(fd), features: p.features, flags: p.flags}
	if err := r.mmap(&p); err != nil {
		return nil, errors.Join(err, os.NewSyscallError("close", unix.Close(r.fd)))
	}
	return r, nil
}

func (r *ring) mmap(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if p.features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	mmap := func(off int64, size int) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = unix.Mmap(r.fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			err = fmt.Errorf("mmap io_uring at %#x: %w", off, os.NewSyscallError("mmap", err))
		}
		return b
	}
	r.sqMem = mmap(offSQRing, sqSize)
	if p.features&featSingleMmap != 0 {
		r.cqMem = r.sqMem
	} else {
		r.cqMem = mmap(offCQRing, cqSize)
	}
	r.sqeMem = mmap(offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})))
	if err != nil {
		r.unmap()
		return err
	}
	sq := unsafe.Pointer(&r.sqMem[0])
	cq := unsafe.Pointer(&r.cqMem[0])
	word := func(base unsafe.Pointer, off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead = word(sq, p.sqOff.head)
	r.sqTail = word(sq, p.sqOff.tail)
	r.sqFlags = word(sq, p.sqOff.flags)
	r.sqMask = *word(sq, p.sqOff.ringMask) // constant after setup
	r.sqSize = *word(sq, p.sqOff.ringEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	// The SQ index array maps ring slots to SQEs; we keep it the identity,
	// written once here, before any submission (liburing does the same).
	array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cqHead = word(cq, p.cqOff.head)
	r.cqTail = word(cq, p.cqOff.tail)
	r.cqMask = *word(cq, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(cq, p.cqOff.cqes)), p.cqEntries)
	// The heads and tails start at 0 in a new ring; we own sq tail and cq
	// head, so plain reads of our own words are fine.
	r.tail = *r.sqTail
	r.head = *r.cqHead
	return nil
}

func (r *ring) unmap() {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && r.features&featSingleMmap == 0 { // else it is sqMem
		_ = unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		_ = unix.Munmap(r.sqMem)
	}
	r.sqMem, r.cqMem, r.sqeMem, r.sqes, r.cqes = nil, nil, nil, nil, nil
}

// close unmaps the rings and closes the ring fd; the kernel then cancels
// every request still armed.
func (r *ring) close() error {
	r.unmap()
	return unix.Close(r.fd)
}

// nextSQE returns a zeroed SQE at the local tail, or nil when the SQ is
// full. The SQE becomes visible to the kernel at the next publish.
func (r *ring) nextSQE() *sqe {
	// Load-acquire of the kernel's head: the kernel has finished reading
	// every SQE before it, so those slots may be overwritten.
	if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqSize {
		return nil
	}
	s := &r.sqes[r.tail&r.sqMask]
	*s = sqe{}
	r.tail++
	return s
}

// publish makes every SQE written so far visible to the kernel and returns
// how many it has not consumed yet.
func (r *ring) publish() uint32 {
	// Store-release of our tail: the SQE writes above happen before it.
	atomic.StoreUint32(r.sqTail, r.tail)
	return r.sqPending()
}

// sqPending returns how many SQEs up to the local tail the kernel has not
// consumed yet.
func (r *ring) sqPending() uint32 {
	return r.tail - atomic.LoadUint32(r.sqHead) // load-acquire, as in nextSQE
}

// sqRingFlags reads the SQ flags word the kernel updates with atomic ops.
func (r *ring) sqRingFlags() uint32 { return atomic.LoadUint32(r.sqFlags) }

// cqTailAcquire returns the kernel's CQ tail.
func (r *ring) cqTailAcquire() uint32 {
	// Load-acquire of the kernel's tail: the CQEs before it are written.
	return atomic.LoadUint32(r.cqTail)
}

// cqeAt returns the CQE at ring index i (i below the tail just loaded).
func (r *ring) cqeAt(i uint32) *cqe { return &r.cqes[i&r.cqMask] }

// cqRelease hands the CQ slots before head back to the kernel.
func (r *ring) cqRelease(head uint32) {
	// Store-release of our head: every read of the CQEs before it happens
	// before the kernel may overwrite them.
	atomic.StoreUint32(r.cqHead, head)
	r.head = head
}

// enter calls io_uring_enter. A timeout >= 0 bounds a GETEVENTS wait
// (minComplete > 0) through IORING_ENTER_EXT_ARG; a negative one waits
// without limit. It returns the raw errno: queue_linux.go's policy is the
// only caller.
func (r *ring) enter(toSubmit, minComplete, flags uint32, timeout time.Duration) (int, unix.Errno) {
	var arg uintptr
	var argSz uintptr
	if timeout >= 0 && flags&enterGetEvents != 0 && minComplete > 0 {
		r.ts = kernelTimespec{sec: int64(timeout / time.Second), nsec: int64(timeout % time.Second)}
		// The kernel reads ts through this integer: ts is in r (heap,
		// kept alive below), so the address stays valid.
		r.arg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
		arg, argSz = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
		flags |= enterExtArg
	}
	var n uintptr
	var errno unix.Errno
	if minComplete == 0 {
		// Submitting without waiting does not block: keep the P, as
		// package fdio explains.
		n, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), arg, argSz)
	} else {
		n, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), arg, argSz)
	}
	// arg was converted to an integer before the call, outside the
	// argument list that unsafe.Pointer rule 4 covers: keep r, which
	// holds r.arg and r.ts, alive until the kernel has read them.
	runtime.KeepAlive(r)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
