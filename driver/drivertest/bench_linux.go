package drivertest

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// BenchWake measures a wake-up round trip through the driver: the benchmark
// goroutine writes eventfd pong, a helper goroutine blocked in read(2) on
// pong writes eventfd ping, and the benchmark goroutine's Wait returns the
// ping event. One op is one round trip: two thread wake-ups, one of them
// through the driver.
func BenchWake(b *testing.B, open Factory) {
	benchPingPong(b, open, func(b *testing.B) (rd, wr, peerRd, peerWr int) {
		ping := mustEventfd(b, unix.EFD_NONBLOCK)
		pong := mustEventfd(b, 0) // blocking: the helper sleeps in read(2)
		return ping, pong, pong, ping
	}, 8)
}

// BenchPipePingPong is BenchWake with one-byte messages over two pipes
// instead of eventfds.
func BenchPipePingPong(b *testing.B, open Factory) {
	benchPingPong(b, open, func(b *testing.B) (rd, wr, peerRd, peerWr int) {
		var p1, p2 [2]int
		if err := unix.Pipe2(p1[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			b.Fatal(err)
		}
		if err := unix.Pipe2(p2[:], unix.O_CLOEXEC); err != nil { // blocking for the helper
			b.Fatal(err)
		}
		b.Cleanup(func() {
			for _, fd := range append(p1[:], p2[:]...) {
				closeFdOK(b, fd)
			}
		})
		// driver side reads p1, writes p2; helper reads p2, writes p1.
		return p1[0], p2[1], p2[0], p1[1]
	}, 1)
}

// BenchWakeParked is BenchWake with the benchmark goroutine parked in the Go
// runtime poller on the driver's own fd (driver.Pollable) instead of
// blocking its thread in Wait: the way an event loop waits without holding
// an OS thread. Each wake-up then polls with Wait(events, 0).
func BenchWakeParked(b *testing.B, open Factory) {
	benchPingPongParked(b, open)
}

func mustEventfd(b *testing.B, flags int) int {
	fd, err := unix.Eventfd(0, flags|unix.EFD_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeFdOK(b, fd) })
	return fd
}

// benchPingPong runs the round trip described at BenchWake over the fds made
// by mk: the driver watches rd, the benchmark writes wr; the helper reads
// peerRd (blocking) and writes peerWr. A message whose first byte is 2 stops
// the helper.
func benchPingPong(b *testing.B, open Factory, mk func(*testing.B) (rd, wr, peerRd, peerWr int), size int) {
	d, err := open(driver.Config{Events: defaultEvents})
	var unsup *driver.UnsupportedError
	if errors.As(err, &unsup) {
		b.Skipf("driver unsupported: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer closeOK(b, "driver", d.Close)
	rd, wr, peerRd, peerWr := mk(b)
	if err := d.Add(rd, driver.None, driver.Readable); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, 8)
		for {
			if _, err := unix.Read(peerRd, msg); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				done <- err
				return
			}
			if msg[0] == 2 || (size == 8 && msg[0] != 1) {
				done <- nil
				return
			}
			msg[0] = 1
			if _, err := unix.Write(peerWr, msg[:size]); err != nil {
				done <- err
				return
			}
		}
	}()
	evs := make([]driver.Event, 8)
	msg := make([]byte, 8)
	in := make([]byte, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		msg[0] = 1
		if _, err := unix.Write(wr, msg[:size]); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := d.Wait(evs, -1)
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				break
			}
		}
		if _, err := unix.Read(rd, in); err != nil {
			b.Fatalf("read after the event: %v", err)
		}
	}
	b.StopTimer()
	msg[0] = 2
	if _, err := unix.Write(wr, msg[:size]); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func benchPingPongParked(b *testing.B, open Factory) {
	d, err := open(driver.Config{Events: defaultEvents})
	var unsup *driver.UnsupportedError
	if errors.As(err, &unsup) {
		b.Skipf("driver unsupported: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer closeOK(b, "driver", d.Close)
	p, ok := d.(driver.Pollable)
	if !ok {
		b.Skipf("%s does not implement driver.Pollable", d.Name())
	}
	// A dup, so that closing the os.File leaves the driver's fd alone; the
	// runtime poller needs it non-blocking (the flag is on the shared file
	// description; neither epoll_wait nor io_uring_enter looks at it).
	dfd, err := unix.FcntlInt(uintptr(p.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.SetNonblock(dfd, true); err != nil {
		b.Fatal(err)
	}
	f := os.NewFile(uintptr(dfd), "driver")
	defer closeOK(b, "duplicate of the driver fd", f.Close)
	rc, err := f.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	ping := mustEventfd(b, unix.EFD_NONBLOCK)
	pong := mustEventfd(b, 0)
	if err := d.Add(ping, driver.None, driver.Readable); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Wait(make([]driver.Event, 1), 0); err != nil { // submit
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, 8)
		for {
			if _, err := unix.Read(pong, msg); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				done <- err
				return
			}
			if msg[0] != 1 {
				done <- nil
				return
			}
			if _, err := unix.Write(ping, msg); err != nil {
				done <- err
				return
			}
		}
	}()
	evs := make([]driver.Event, 8)
	msg := make([]byte, 8)
	in := make([]byte, 8)
	var werr error
	wait := func(uintptr) bool {
		n, err := d.Wait(evs, 0)
		if err != nil {
			werr = err
			return true
		}
		return n > 0
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		msg[0] = 1
		if _, err := unix.Write(pong, msg); err != nil {
			b.Fatal(err)
		}
		if err := rc.Read(wait); err != nil || werr != nil {
			b.Fatal(err, werr)
		}
		if _, err := unix.Read(ping, in); err != nil {
			b.Fatalf("read after the event: %v", err)
		}
	}
	b.StopTimer()
	msg[0] = 2
	if _, err := unix.Write(pong, msg); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
