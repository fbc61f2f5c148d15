package epoll

import (
	"fmt"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/fdio"
)

// Driver is an edge-triggered epoll instance. Like every driver.Driver it is
// owned by one goroutine.
type Driver struct {
	epfd int
	// buf receives epoll_wait's events; it grows to the length of the
	// caller's events slice and is reused.
	buf []unix.EpollEvent
}

var _ driver.Pollable = (*Driver)(nil)

// New creates an epoll instance; cfg.Events sizes the first events buffer.
func New(cfg driver.Config) (*Driver, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", os.NewSyscallError("epoll_create1", err))
	}
	return &Driver{epfd: fd, buf: make([]unix.EpollEvent, max(cfg.Events, 1))}, nil
}

// epollEvents converts an interest mask into epoll flags. EPOLLRDHUP rides
// with EPOLLIN so that a peer's shutdown wakes a reader.
func epollEvents(m driver.Mask) uint32 {
	ev := uint32(unix.EPOLLET)
	if m&driver.Readable != 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if m&driver.Writable != 0 {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// Add sets fd's interest to cur|add (EPOLL_CTL_ADD when cur is None,
// EPOLL_CTL_MOD otherwise).
func (d *Driver) Add(fd int, cur, add driver.Mask) error {
	op := unix.EPOLL_CTL_MOD
	if cur&driver.ReadWrite == driver.None {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: epollEvents(cur | add), Fd: int32(fd)}
	if err := unix.EpollCtl(d.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll: add fd %d (%v|%v): %w", fd, cur, add, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// Del sets fd's interest to cur&^del, removing fd (EPOLL_CTL_DEL) when
// nothing is left.
func (d *Driver) Del(fd int, cur, del driver.Mask) error {
	m := cur &^ del & driver.ReadWrite
	op := unix.EPOLL_CTL_MOD
	if m == driver.None {
		op = unix.EPOLL_CTL_DEL
	}
	ev := unix.EpollEvent{Events: epollEvents(m), Fd: int32(fd)}
	if err := unix.EpollCtl(d.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll: del fd %d (%v&^%v): %w", fd, cur, del, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// Wait waits in epoll_wait for up to timeout (rounded up to a millisecond,
// so that it never returns early) and converts what fired. An interrupted
// wait returns 0 events, except that with a positive timeout it waits on
// for the rest of it.
func (d *Driver) Wait(events []driver.Event, timeout time.Duration) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	if len(d.buf) < len(events) {
		d.buf = make([]unix.EpollEvent, len(events))
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var n int
		var err error
		if timeout == 0 {
			// A poll that cannot block keeps the P (see package fdio).
			n, err = fdio.PollEpoll(d.epfd, d.buf[:len(events)])
		} else {
			n, err = unix.EpollWait(d.epfd, d.buf[:len(events)], waitMillis(timeout))
		}
		if err == unix.EINTR {
			if timeout <= 0 {
				return 0, nil
			}
			if timeout = time.Until(deadline); timeout <= 0 {
				return 0, nil
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("epoll: %w", os.NewSyscallError("epoll_wait", err))
		}
		for i := range n {
			e := &d.buf[i]
			events[i] = driver.Event{Fd: e.Fd, Mask: toMask(e.Events)}
		}
		return n, nil
	}
}

// toMask maps epoll's events to a driver.Mask; errors and hang-ups become
// Readable|Writable so that whichever handler runs sees the error.
func toMask(ev uint32) driver.Mask {
	var m driver.Mask
	if ev&unix.EPOLLIN != 0 {
		m |= driver.Readable
	}
	if ev&unix.EPOLLOUT != 0 {
		m |= driver.Writable
	}
	if ev&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
		m |= driver.ReadWrite | driver.Hangup
	}
	return m
}

// waitMillis converts a timeout into epoll_wait's milliseconds, rounding up.
func waitMillis(timeout time.Duration) int {
	switch {
	case timeout < 0:
		return -1
	case timeout == 0:
		return 0
	case timeout >= math.MaxInt32*time.Millisecond:
		return math.MaxInt32
	}
	return int((timeout + time.Millisecond - 1) / time.Millisecond)
}

// Close closes the epoll fd. Registered fds are not closed.
func (d *Driver) Close() error {
	if d.epfd < 0 {
		return nil
	}
	err := unix.Close(d.epfd)
	d.epfd = -1
	if err != nil {
		return fmt.Errorf("epoll: %w", os.NewSyscallError("close", err))
	}
	return nil
}

// Name returns "epoll".
func (d *Driver) Name() string { return Name }

// Fd returns the epoll fd, readable when Wait has events to return.
func (d *Driver) Fd() int { return d.epfd }
