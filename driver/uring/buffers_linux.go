package uring

// This file and ring_linux.go hold all of the package's unsafe code. This
// one has the memory the kernel uses after a call returns, in completion
// mode: the provided-buffer ring (struct io_uring_buf_ring, its buffers, its
// 16-bit tail) and the caller's memory that a send points at, which stays
// pinned (runtime.Pinner) until the send's completion is reaped. Nothing
// here puts a Go pointer in kernel memory without pinning it: the provided
// buffers and their ring are mmap'd, outside the Go heap.

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// registerPbufRing is IORING_REGISTER_PBUF_RING.
const registerPbufRing = 22

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

// bufRing is a provided-buffer ring of buffer group 0 and its buffers. The
// kernel takes a buffer from the head for each receive; we give buffers
// back at the tail.
type bufRing struct {
	size  int       // bytes per buffer
	bufs  []byte    // the buffers, one anonymous mmap
	mem   []byte    // the ring, one anonymous mmap (page aligned, as required)
	ents  []ringBuf // the ring's entries, over mem
	mask  uint16
	tail  uint16 // local tail: entries written up to here
	dirty bool   // tail not yet published
}

// setup maps n buffers of size bytes and their ring, registers the ring
// with r, and gives every buffer to the kernel. n is a power of two.
func (b *bufRing) setup(r *ring, n, size int) error {
	b.size, b.mask = size, uint16(n-1)
	var err error
	// Buffers are touched only when the kernel fills them: no MAP_POPULATE.
	if b.bufs, err = unix.Mmap(-1, 0, n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("uring: completion: mmap buffers: %w", err)
	}
	anon := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	if b.mem, err = unix.Mmap(-1, 0, n*int(unsafe.Sizeof(ringBuf{})), unix.PROT_READ|unix.PROT_WRITE, anon); err != nil {
		return fmt.Errorf("uring: completion: mmap buffer ring: %w", err)
	}
	b.ents = unsafe.Slice((*ringBuf)(unsafe.Pointer(&b.mem[0])), n)
	// The address in reg is of mmap'd memory, not of a Go object; reg
	// itself is passed in the call's argument list (unsafe.Pointer rule 4)
	// and read by the kernel only during the call.
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.mem[0]))), ringEntries: uint32(n)}
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0)
	if errno != 0 {
		e := fmt.Errorf("io_uring_register(PBUF_RING): %w", errno)
		if errno == unix.EINVAL || errno == unix.ENOSYS || errno == unix.EPERM {
			return &driver.UnsupportedError{Driver: Name, Err: e}
		}
		return e
	}
	for bid := 0; bid < n; bid++ {
		b.give(uint16(bid))
	}
	b.publish()
	return nil
}

// give puts buffer bid back at the local tail of the ring; publish makes
// it visible to the kernel.
func (b *bufRing) give(bid uint16) {
	e := &b.ents[b.tail&b.mask]
	e.addr = uint64(uintptr(unsafe.Pointer(&b.bufs[int(bid)*b.size]))) // mmap'd, not the Go heap
	e.len = uint32(b.size)
	e.bid = bid
	b.tail++
	b.dirty = true
}

// publish makes the buffers given back visible to the kernel.
func (b *bufRing) publish() {
	if !b.dirty {
		return
	}
	b.dirty = false
	// The tail is the uint16 at byte 14 of the ring, the upper half of
	// the 32-bit word at byte 12 whose lower half is entry 0's bid (ours
	// too). Go has no 16-bit atomic store, so store-release the whole word,
	// with entry 0's bid unchanged: the entry writes above happen before.
	w := (*uint32)(unsafe.Pointer(&b.mem[12]))
	atomic.StoreUint32(w, uint32(b.ents[0].bid)|uint32(b.tail)<<16)
}

// data returns the n bytes the kernel received into buffer bid, or nil
// when bid or n is out of the ring's bounds.
func (b *bufRing) data(bid uint16, n int32) []byte {
	if n <= 0 || bid > b.mask {
		return nil
	}
	off := int(bid) * b.size
	return b.bufs[off : off+min(int(n), b.size) : off+b.size]
}

// close unmaps the ring and the buffers (the io_uring instance must be
// closed first: its teardown releases the registration).
func (b *bufRing) close() []error {
	var errs []error
	if b.mem != nil {
		errs = append(errs, unix.Munmap(b.mem))
		b.mem, b.ents = nil, nil
	}
	if b.bufs != nil {
		errs = append(errs, unix.Munmap(b.bufs))
		b.bufs = nil
	}
	return errs
}

// pinAddr pins the object p points into until pin is unpinned and returns
// p's address for an SQE; nil gives 0. Memory the kernel reads after the
// submitting call returns must not be freed, reused or moved (a goroutine
// stack moves) meanwhile: Pin moves the object to the heap when it would
// have lived on a stack (its argument escapes) and keeps it there and
// alive. On a pointer outside the Go heap (a provided buffer) Pin does
// nothing.
func pinAddr[T any](pin *runtime.Pinner, p *T) uint64 {
	if p == nil {
		return 0
	}
	pin.Pin(p)
	return uint64(uintptr(unsafe.Pointer(p)))
}

// pinMsg pins msg and every piece of memory it points at (name, control,
// the iovec array and each iovec's buffer) and returns msg's address.
func pinMsg(pin *runtime.Pinner, msg *unix.Msghdr) uint64 {
	addr := pinAddr(pin, msg)
	pinAddr(pin, msg.Name)
	pinAddr(pin, msg.Control)
	if msg.Iov != nil && msg.Iovlen > 0 {
		pinAddr(pin, msg.Iov)
		for _, iov := range unsafe.Slice(msg.Iov, msg.Iovlen) {
			pinAddr(pin, iov.Base)
		}
	}
	return addr
}

// msgAddr returns the address of msg for a SENDMSG SQE, without pinning:
// for the completion-mode Driver, whose message headers and iovec arrays
// are fields and slices of heap objects it keeps until the completion is
// reaped. Their pointers (msg.Iov, each iovec's Base) are ordinary Go
// pointers in heap memory, so the garbage collector sees them and keeps
// every buffer they point at alive; and Go's garbage collector does not
// move heap objects (only goroutine stacks move, and a buffer whose
// address is stored in the heap has escaped to the heap). Pinning each
// buffer as well cost 14% of a messenger's CPU at 64-byte messages.
func msgAddr(msg *unix.Msghdr) uint64 { return uint64(uintptr(unsafe.Pointer(msg))) }

// bufAddr returns the address of a SEND's buffer, without pinning, for the
// reason msgAddr gives: the caller keeps a Go pointer to it (its iovec) in
// the heap until the completion is reaped.
func bufAddr(p *byte) uint64 { return uint64(uintptr(unsafe.Pointer(p))) }
