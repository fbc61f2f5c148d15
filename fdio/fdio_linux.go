package fdio

// This file holds all of the package's unsafe code: the buffer and array
// addresses passed to the kernel. Each is converted in the argument list of
// a direct unix.Syscall or unix.RawSyscall call (unsafe.Pointer rule 4), never
// through a variable or a function value, so the memory stays alive and in
// place for the length of the call; none is kept by the kernel afterwards.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// RawMax is the most bytes a call may copy and still be made raw. A larger
// read or write (a frame-sized buffer, a batch of big messages) can spend
// hundreds of microseconds copying; it goes through unix.Syscall, so that
// the scheduler may hand the P on meanwhile and a stop-the-world does not
// wait for it. The handoff then costs little against the copy.
const RawMax = 1 << 20

// Read reads into p from the non-blocking descriptor fd, as read(2). It
// returns the bytes read; 0 with a nil error is end of file.
func Read(fd int, p []byte) (int, error) { return plain(unix.SYS_READ, fd, p) }

// Write writes p to the non-blocking descriptor fd, as write(2). It returns
// the bytes the kernel took, which may be fewer than len(p).
func Write(fd int, p []byte) (int, error) { return plain(unix.SYS_WRITE, fd, p) }

// plain makes the read or write call: raw unless it may copy more than
// RawMax.
//
// unsafe.Pointer rule 4 ("conversion of a Pointer to a uintptr when calling
// syscall.Syscall"): the conversion is written in the argument list of a
// direct call to an assembly function, so the compiler keeps p's array alive
// and in place until the call returns. Through a function value it would not,
// so each branch makes its own direct call.
func plain(sysno uintptr, fd int, p []byte) (int, error) {
	var r uintptr
	var e unix.Errno
	if len(p) <= RawMax {
		r, _, e = unix.RawSyscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	} else {
		r, _, e = unix.Syscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Writev writes the buffers iovs points at to the non-blocking descriptor fd
// with one writev(2), and returns the bytes the kernel took. The caller keeps
// the buffers reachable until Writev returns and should clear the iovecs'
// Base pointers afterwards if it keeps the array, so that they do not keep
// buffers alive.
func Writev(fd int, iovs []unix.Iovec) (int, error) { return vectored(unix.SYS_WRITEV, fd, iovs) }

// Readv reads from the non-blocking descriptor fd into the buffers iovs
// points at with one readv(2), and returns the bytes read.
func Readv(fd int, iovs []unix.Iovec) (int, error) { return vectored(unix.SYS_READV, fd, iovs) }

// vectored makes the readv or writev call: raw unless it may copy more
// than RawMax. As in plain, each branch is a direct call (unsafe.Pointer rule
// 4) that keeps the iovec array alive; the array's Base pointers keep the
// buffers alive.
func vectored(sysno uintptr, fd int, iovs []unix.Iovec) (int, error) {
	if len(iovs) == 0 {
		return 0, nil
	}
	var r uintptr
	var e unix.Errno
	if total(iovs) <= RawMax {
		r, _, e = unix.RawSyscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])), uintptr(len(iovs)))
	} else {
		r, _, e = unix.Syscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])), uintptr(len(iovs)))
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// PollEpoll collects the events ready on the epoll instance epfd without
// waiting (epoll_wait(2) with a zero timeout) and returns how many it stored
// in events. The call is direct, as unsafe.Pointer rule 4 requires.
func PollEpoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// total returns the bytes iovs cover.
func total(iovs []unix.Iovec) uint64 {
	var n uint64
	for i := range iovs {
		n += uint64(iovs[i].Len)
	}
	return n
}
