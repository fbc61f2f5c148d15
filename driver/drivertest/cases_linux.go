package drivertest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// testPipeEdge: a pipe fires exactly once per write, even while the data
// stays unread (edge-triggered), and never after Del.
func testPipeEdge(h *harness) {
	r, w := h.pipe()
	h.add(r, driver.None, driver.Readable)
	h.quiet(r, "empty pipe")
	for i := range 3 {
		h.write(w, []byte{byte(i)})
		h.waitFd(r, driver.Readable, "write to pipe")
		h.quiet(r, "pipe after one write, data unread")
	}
	if n := h.drain(r); n != 3 {
		h.t.Fatalf("read %d bytes from the pipe, want 3", n)
	}
	h.quiet(r, "pipe after drain")
	h.del(r, driver.Readable, driver.Readable)
	h.write(w, []byte{9})
	h.quiet(r, "pipe after Del")
}

// testEventfdWake: an eventfd written from another goroutine wakes a Wait
// without timeout on the owner goroutine.
func testEventfdWake(h *harness) {
	efd := h.eventfd()
	h.add(efd, driver.None, driver.Readable)
	h.quiet(efd, "eventfd before write") // also submits the registration
	done := make(chan error, 1)
	go func() { done <- writeEventfd(efd) }()
	deadline := time.Now().Add(fireTimeout)
	for time.Now().Before(deadline) {
		evs := h.wait(-1)
		if len(evs) == 1 && int(evs[0].Fd) == efd && evs[0].Mask&driver.Readable != 0 {
			if err := <-done; err != nil {
				h.t.Fatalf("eventfd write: %v", err)
			}
			return
		}
		if len(evs) != 0 {
			h.t.Fatalf("Wait(-1) returned %v, want fd %d R", fmtEvents(evs), efd)
		}
		// n == 0: interrupted wait, allowed by the contract.
	}
	h.t.Fatalf("eventfd written from another goroutine did not wake Wait within %v", fireTimeout)
}

// testListenAccept: a listening socket fires on connect; the accepted socket
// fires readable on data, then writable after its interest is switched.
func testListenAccept(h *harness) {
	lfd, port := h.listen()
	h.add(lfd, driver.None, driver.Readable)
	h.quiet(lfd, "listener without connect")
	cfd, err := h.connect(port)
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	h.waitFd(lfd, driver.Readable, "listener on connect")
	sfd := h.accept(lfd)
	h.add(sfd, driver.None, driver.Readable)
	h.pollFd(cfd, unix.POLLOUT, "connect")
	h.write(cfd, []byte("hello"))
	h.waitFd(sfd, driver.Readable, "accepted socket on data")
	var buf [16]byte
	if n, err := unix.Read(sfd, buf[:]); err != nil || string(buf[:n]) != "hello" {
		h.t.Fatalf("read accepted socket: %q, %v; want \"hello\"", buf[:n], err)
	}
	// Switch interest from readable to writable, as a modification.
	h.add(sfd, driver.Readable, driver.Writable)
	h.del(sfd, driver.ReadWrite, driver.Readable)
	if got := h.waitFd(sfd, driver.Writable, "accepted socket after switching to W"); got != driver.Writable {
		h.t.Fatalf("accepted socket with W interest fired %v, want W", got)
	}
	h.write(sfd, []byte("world"))
	h.pollFd(cfd, unix.POLLIN, "client read")
	if n, err := unix.Read(cfd, buf[:]); err != nil || string(buf[:n]) != "world" {
		h.t.Fatalf("read client: %q, %v; want \"world\"", buf[:n], err)
	}
}

// testTableGrowth: 300 sockets on a driver configured for 100 all fire, each
// exactly once, through an events slice smaller than the number fired.
func testTableGrowth(h *harness) {
	const nsock = 300
	g := newHarness(h.t, h.open, 100)
	lfd, port := g.listen()
	clients := make([]int, nsock)
	servers := map[int]bool{}
	for i := range clients {
		c, err := g.connect(port)
		if err != nil {
			h.t.Fatalf("connect %d: %v", i, err)
		}
		clients[i] = c
		s := g.accept(lfd)
		servers[s] = true
		g.add(s, driver.None, driver.Readable)
	}
	g.quiet(-1, "300 idle sockets")
	for i, c := range clients {
		g.pollFd(c, unix.POLLOUT, "connect")
		g.write(c, []byte{byte(i)})
	}
	fired := map[int]int{}
	deadline := time.Now().Add(fireTimeout)
	for len(fired) < nsock && time.Now().Before(deadline) {
		for _, ev := range g.wait(100 * time.Millisecond) {
			fd := int(ev.Fd)
			if !servers[fd] || ev.Mask&driver.Readable == 0 {
				h.t.Fatalf("unexpected event %d:%v", fd, ev.Mask)
			}
			fired[fd]++
		}
	}
	if len(fired) != nsock {
		h.t.Fatalf("%d of %d sockets fired within %v", len(fired), nsock, fireTimeout)
	}
	g.quiet(-1, "300 sockets after one write each")
	for fd, n := range fired {
		if n != 1 {
			h.t.Fatalf("fd %d fired %d times for one write, want 1", fd, n)
		}
	}
}

// testConnectNonblocking: a non-blocking connect completes with WRITABLE and
// SO_ERROR 0.
func testConnectNonblocking(h *harness) {
	lfd, port := h.listen()
	cfd, err := h.connect(port)
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	h.add(cfd, driver.None, driver.Writable)
	h.waitFd(cfd, driver.Writable, "connecting socket")
	if e := soError(h, cfd); e != nil {
		h.t.Fatalf("SO_ERROR after connect = %v, want 0", e)
	}
	h.accept(lfd)
}

// testConnectRefused: a connect to a port nobody listens on fires and reads
// ECONNREFUSED from SO_ERROR.
func testConnectRefused(h *harness) {
	// Keep the port bound, not listening, so that nobody else takes it.
	bfd := h.tcpSocket()
	if err := unix.Bind(bfd, &unix.SockaddrInet4{Addr: loopback}); err != nil {
		h.t.Fatalf("bind: %v", err)
	}
	cfd, err := h.connect(h.port(bfd))
	if errors.Is(err, unix.ECONNREFUSED) {
		h.t.Logf("connect refused synchronously; the readiness part is not exercised")
		return
	}
	if err != nil {
		h.t.Fatalf("connect: %v, want EINPROGRESS or ECONNREFUSED", err)
	}
	h.add(cfd, driver.None, driver.Writable)
	got := h.waitFd(cfd, driver.Writable, "refused connect")
	if got != driver.ReadWrite|driver.Hangup {
		h.t.Fatalf("refused connect fired %v, want RWH (errors are Readable|Writable|Hangup)", got)
	}
	if e := soError(h, cfd); !errors.Is(e, unix.ECONNREFUSED) {
		h.t.Fatalf("SO_ERROR after refused connect = %v, want ECONNREFUSED", e)
	}
}

// testDoubleListen: binding a second socket to a listening port gives
// EADDRINUSE.
func testDoubleListen(h *harness) {
	_, port := h.listen()
	fd := h.tcpSocket()
	err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback, Port: port})
	if err == nil {
		err = unix.Listen(fd, 1)
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		h.t.Fatalf("second listen on port %d: %v, want EADDRINUSE", port, err)
	}
}

// testAcceptEAGAIN: accept with nothing pending gives EAGAIN, and the
// listener does not fire.
func testAcceptEAGAIN(h *harness) {
	lfd, _ := h.listen()
	h.add(lfd, driver.None, driver.Readable)
	h.quiet(lfd, "listener without connect")
	if _, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC); !errors.Is(err, unix.EAGAIN) {
		h.t.Fatalf("accept with nothing pending: %v, want EAGAIN", err)
	}
}

// testPeerCloseEOF: the peer's close fires the socket (a hang-up is
// Readable|Writable) and a read then returns EOF.
func testPeerCloseEOF(h *harness) {
	cfd, sfd := h.pair()
	h.add(sfd, driver.None, driver.Readable)
	h.quiet(sfd, "idle connection")
	h.closeFd(cfd)
	got := h.waitFd(sfd, driver.Readable, "peer close")
	if got != driver.ReadWrite|driver.Hangup {
		h.t.Fatalf("peer close fired %v, want RWH (hang-ups are Readable|Writable|Hangup)", got)
	}
	var buf [8]byte
	if n, err := unix.Read(sfd, buf[:]); n != 0 || err != nil {
		h.t.Fatalf("read after peer close = %d, %v; want 0 (EOF)", n, err)
	}
}

// testReset: a connection reset (RST) on a socket with only Readable
// interest is reported as Readable|Writable, and the read sees ECONNRESET.
func testReset(h *harness) {
	cfd, sfd := h.pair()
	h.add(sfd, driver.None, driver.Readable)
	h.quiet(sfd, "idle connection")
	if err := unix.SetsockoptLinger(cfd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		h.t.Fatalf("SO_LINGER: %v", err)
	}
	h.closeFd(cfd) // linger 0: sends RST
	got := h.waitFd(sfd, driver.Readable, "reset")
	if got != driver.ReadWrite|driver.Hangup {
		h.t.Fatalf("reset fired %v, want RWH", got)
	}
	var buf [8]byte
	if _, err := unix.Read(sfd, buf[:]); !errors.Is(err, unix.ECONNRESET) {
		h.t.Fatalf("read after reset: %v, want ECONNRESET", err)
	}
}

// testBulkTransfer: 100 × 10 KiB written with WRITABLE/EAGAIN handling and
// read back byte-exact in 1000-byte chunks, both ends on one driver.
func testBulkTransfer(h *harness) {
	const (
		chunks    = 100
		chunkSize = 10 << 10
		readSize  = 1000
	)
	cfd, sfd := h.pair()
	// A small send buffer, so that EAGAIN on write really happens.
	if err := unix.SetsockoptInt(cfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<10); err != nil {
		h.t.Fatalf("SO_SNDBUF: %v", err)
	}
	src := make([]byte, chunks*chunkSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	dst := make([]byte, 0, len(src))
	h.add(sfd, driver.None, driver.Readable)
	var cmask driver.Mask // client interest
	sent, eagains := 0, 0
	buf := make([]byte, readSize)
	deadline := time.Now().Add(4 * fireTimeout)
	for len(dst) < len(src) {
		if time.Now().After(deadline) {
			h.t.Fatalf("bulk transfer: %d of %d bytes sent, %d received within %v", sent, len(src), len(dst), 4*fireTimeout)
		}
		// Write until EAGAIN, one chunk boundary at a time.
		for cmask == driver.None && sent < len(src) {
			end := min(sent+chunkSize-sent%chunkSize, len(src))
			n, err := unix.Write(cfd, src[sent:end])
			if errors.Is(err, unix.EAGAIN) {
				eagains++
				h.add(cfd, cmask, driver.Writable)
				cmask = driver.Writable
				break
			}
			if err != nil {
				h.t.Fatalf("write: %v", err)
			}
			sent += n
		}
		for _, ev := range h.wait(100 * time.Millisecond) {
			switch int(ev.Fd) {
			case sfd:
				for {
					n, err := unix.Read(sfd, buf)
					if errors.Is(err, unix.EAGAIN) {
						break
					}
					if err != nil || n == 0 {
						h.t.Fatalf("read: %d, %v", n, err)
					}
					dst = append(dst, buf[:n]...)
				}
			case cfd:
				if ev.Mask&driver.Writable != 0 && cmask != driver.None {
					h.del(cfd, cmask, driver.Writable)
					cmask = driver.None
				}
			default:
				h.t.Fatalf("unexpected event %v", ev)
			}
		}
	}
	if !bytes.Equal(src, dst) {
		i := 0
		for i < len(src) && src[i] == dst[i] {
			i++
		}
		h.t.Fatalf("bulk transfer: received bytes differ from sent at offset %d", i)
	}
	if eagains == 0 {
		h.t.Logf("bulk transfer never hit EAGAIN on write")
	} else {
		h.t.Logf("bulk transfer: %d EAGAINs on write", eagains)
	}
}

// testDelWritable: removing Writable keeps Readable working and stops
// Writable from firing.
func testDelWritable(h *harness) {
	cfd, sfd := h.pair()
	h.add(sfd, driver.None, driver.ReadWrite)
	h.waitFd(sfd, driver.Writable, "writable socket")
	h.del(sfd, driver.ReadWrite, driver.Writable)
	h.quiet(sfd, "after Del W")
	for i := range 3 {
		h.write(cfd, []byte{byte(i)})
		if got := h.waitFd(sfd, driver.Readable, "data after Del W"); got != driver.Readable {
			h.t.Fatalf("after Del W the socket fired %v, want R", got)
		}
		h.drain(sfd)
		h.quiet(sfd, "drained, after Del W")
	}
}

// testDelNone: removing every condition stops all events, including those
// already pending in the kernel.
func testDelNone(h *harness) {
	cfd, sfd := h.pair()
	h.add(sfd, driver.None, driver.ReadWrite)
	h.waitFd(sfd, driver.Writable, "writable socket")
	h.write(cfd, []byte("x"))
	h.pollFd(sfd, unix.POLLIN, "data arrived")
	// The readable edge may be pending in the driver now; Del must drop it.
	h.del(sfd, driver.ReadWrite, driver.ReadWrite)
	h.quiet(sfd, "after Del to None")
	h.write(cfd, []byte("y"))
	h.quiet(sfd, "data after Del to None")
}

// testReAddAfterDel: an fd removed and added again fires for the new
// registration only, and a new file reusing the fd number is watched.
func testReAddAfterDel(h *harness) {
	r, w := h.pipe()
	h.add(r, driver.None, driver.Readable)
	h.write(w, []byte("a"))
	h.waitFd(r, driver.Readable, "first registration")
	h.del(r, driver.Readable, driver.Readable)
	h.add(r, driver.None, driver.Readable)
	// Re-adding a readable fd reports it (as EPOLL_CTL_ADD does).
	h.waitFd(r, driver.Readable, "re-added readable pipe")
	h.quiet(r, "re-added pipe")
	h.drain(r)
	// Close the pipe while registered-then-removed, reuse the fd number.
	h.del(r, driver.Readable, driver.Readable)
	h.closeFd(r)
	h.closeFd(w)
	r2, w2 := h.pipe()
	h.add(r2, driver.None, driver.Readable)
	h.quiet(r2, "new empty pipe")
	h.write(w2, []byte("b"))
	h.waitFd(r2, driver.Readable, "new pipe")
}

// testWaitZero: Wait with timeout 0 returns without events when none fired.
func testWaitZero(h *harness) {
	efd := h.eventfd()
	h.add(efd, driver.None, driver.Readable)
	for range 10 {
		if evs := h.wait(0); len(evs) != 0 {
			h.t.Fatalf("Wait(0) with nothing ready returned %v", fmtEvents(evs))
		}
	}
	if err := writeEventfd(efd); err != nil {
		h.t.Fatal(err)
	}
	h.waitFd(efd, driver.Readable, "eventfd after write")
}

// testWaitTimeout: Wait with a timeout and nothing ready returns 0 after at
// least that long (no upper bound: the machine is shared).
func testWaitTimeout(h *harness) {
	efd := h.eventfd()
	h.add(efd, driver.None, driver.Readable)
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 1500 * time.Microsecond} {
		start := time.Now()
		evs := h.wait(d)
		el := time.Since(start)
		if len(evs) != 0 {
			h.t.Fatalf("Wait(%v) with nothing ready returned %v", d, fmtEvents(evs))
		}
		if el < d {
			h.t.Fatalf("Wait(%v) returned after %v, want at least the timeout", d, el)
		}
	}
}

// testSmallEventsSlice: more fired fds than the events slice holds come out
// over several Waits, each exactly once.
func testSmallEventsSlice(h *harness) {
	const n = 10
	fds := map[int]bool{}
	for range n {
		efd := h.eventfd()
		fds[efd] = true
		h.add(efd, driver.None, driver.Readable)
	}
	h.quiet(-1, "idle eventfds")
	for fd := range fds {
		if err := writeEventfd(fd); err != nil {
			h.t.Fatal(err)
		}
	}
	small := make([]driver.Event, 3)
	fired := map[int]int{}
	deadline := time.Now().Add(fireTimeout)
	for len(fired) < n && time.Now().Before(deadline) {
		k, err := h.d.Wait(small, 100*time.Millisecond)
		if err != nil || k > len(small) {
			h.t.Fatalf("Wait with 3 slots: %d, %v", k, err)
		}
		for _, ev := range small[:k] {
			if !fds[int(ev.Fd)] {
				h.t.Fatalf("unexpected event %v", ev)
			}
			fired[int(ev.Fd)]++
		}
	}
	h.quiet(-1, "eventfds after one write each")
	if len(fired) != n {
		h.t.Fatalf("%d of %d eventfds fired", len(fired), n)
	}
	for fd, c := range fired {
		if c != 1 {
			h.t.Fatalf("eventfd %d fired %d times, want 1", fd, c)
		}
	}
}

// testWaitAllocs: a Wait that returns an event allocates nothing.
func testWaitAllocs(h *harness) {
	if testing.CoverMode() != "" {
		h.t.Skip("coverage instrumentation allocates")
	}
	efd := h.eventfd()
	h.add(efd, driver.None, driver.Readable)
	h.quiet(efd, "idle eventfd")
	var b [8]byte
	b[0] = 1
	evs := make([]driver.Event, 8)
	var bad error
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := unix.Write(efd, b[:]); err != nil {
			bad = err
			return
		}
		for {
			n, err := h.d.Wait(evs, -1)
			if err != nil {
				bad = err
				return
			}
			if n > 0 {
				break
			}
		}
		_, _ = unix.Read(efd, b[:])
		b[0] = 1
	})
	if bad != nil {
		h.t.Fatal(bad)
	}
	if allocs != 0 {
		h.t.Fatalf("Wait allocated %.1f times per call, want 0", allocs)
	}
}

// testPollable: a driver implementing driver.Pollable has an fd on which a
// goroutine parked in the Go runtime poller (edge-triggered epoll) is woken
// when Wait has events to return, as an event loop parks.
func testPollable(h *harness) {
	p, ok := h.d.(driver.Pollable)
	if !ok {
		h.t.Skipf("%s does not implement driver.Pollable", h.d.Name())
	}
	efd := h.eventfd()
	h.add(efd, driver.None, driver.Readable)
	h.quiet(efd, "idle eventfd") // submits the registration
	pfd := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 0); err != nil || n != 0 {
		h.t.Fatalf("driver fd polled ready (%d, %v) with nothing fired", n, err)
	}
	f, rc := h.parkable(p.Fd())
	defer closeOK(h.t, "duplicate of the driver fd", f.Close)
	for round := range 3 {
		// The eventfd is written by another goroutine once the parked
		// goroutine found nothing, so that the wake-up must come through
		// the driver fd.
		parking := make(chan struct{})
		wrote := make(chan error, 1)
		go func() {
			<-parking
			wrote <- writeEventfd(efd)
		}()
		if err := f.SetReadDeadline(time.Now().Add(fireTimeout)); err != nil {
			h.t.Fatal(err)
		}
		var got []driver.Event
		var werr error
		calls := 0
		err := rc.Read(func(uintptr) bool {
			var n int
			n, werr = h.d.Wait(h.buf, 0)
			got = h.buf[:n]
			if calls++; calls == 1 {
				close(parking)
			}
			return n > 0 || werr != nil
		})
		if calls == 0 {
			close(parking)
		}
		if e := <-wrote; e != nil {
			h.t.Fatalf("eventfd write: %v", e)
		}
		if werr != nil {
			h.t.Fatalf("Wait(0) after wake-up: %v", werr)
		}
		if err != nil {
			h.t.Fatalf("round %d: goroutine parked on the driver fd was not woken by an eventfd write within %v: %v", round, fireTimeout, err)
		}
		if len(got) != 1 || int(got[0].Fd) != efd || got[0].Mask != driver.Readable {
			h.t.Fatalf("round %d: Wait after wake-up returned %v, want %d:R", round, fmtEvents(got), efd)
		}
		h.drain(efd)
	}
}

// parkable returns an *os.File on a duplicate of fd, registered with the Go
// runtime poller, and its RawConn. The duplicate shares the file description,
// so the non-blocking flag the poller needs is set on the driver's fd too;
// neither epoll_wait nor io_uring_enter looks at it.
func (h *harness) parkable(fd int) (*os.File, syscall.RawConn) {
	h.t.Helper()
	dfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		h.t.Fatalf("dup driver fd: %v", err)
	}
	if err := unix.SetNonblock(dfd, true); err != nil {
		h.t.Fatalf("set non-blocking: %v", errors.Join(err, unix.Close(dfd)))
	}
	f := os.NewFile(uintptr(dfd), "driver")
	rc, err := f.SyscallConn()
	if err != nil {
		h.t.Fatalf("SyscallConn: %v", errors.Join(err, f.Close()))
	}
	return f, rc
}
