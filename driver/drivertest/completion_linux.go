package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// The completion-mode cases (driver.Completer), run by Run for a driver
// that offers the capability when opened with Config.Completion, and
// skipped, saying so, for one that does not.

var completionCases = []testCase{
	{name: "RecvInOrder", run: testRecvInOrder},
	{name: "SendGathered", run: testSendGathered},
	{name: "OneInFlight", run: testOneInFlight},
	{name: "MixedWithReadiness", run: testMixedWithReadiness},
	{name: "BuffersRunOut", leakCheck: true, run: testBuffersRunOut},
	{name: "CancelRecv", run: testCancelRecv},
	{name: "CancelSend", run: testCancelSend},
	{name: "CancelRecvOnly", run: testCancelRecvOnly},
	{name: "PeerClosesMidSend", run: testPeerClosesMidSend},
	{name: "EOF", run: testRecvEOF},
	{name: "SteadyStateAllocs", run: testCompletionAllocs},
	{name: "Stress", leakCheck: true, run: testCompletionStress},
}

func runCompletion(t *testing.T, open Factory) {
	t.Helper()
	probe, err := open(driver.Config{Events: defaultEvents, Completion: true})
	var unsup *driver.UnsupportedError
	if errors.As(err, &unsup) {
		t.Skipf("completion mode unsupported here: %v", err)
	}
	if err != nil {
		t.Fatalf("open with Completion: %v", err)
	}
	_, ok := probe.(driver.Completer)
	if err := probe.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !ok {
		t.Skipf("%s offers no driver.Completer", probe.Name())
	}
	completing := func(cfg driver.Config) (driver.Driver, error) {
		cfg.Completion = true
		return open(cfg)
	}
	for _, c := range completionCases {
		t.Run(c.name, func(t *testing.T) { runCase(t, completing, c) })
	}
}

// cp returns the harness's driver as a Completer.
func (h *harness) cp() driver.Completer { return h.d.(driver.Completer) }

// completions waits until cond is satisfied by the completions seen so
// far (each passed to on as it comes), or fails after fireTimeout.
func (h *harness) completions(what string, on func(c *driver.Completion) (done bool)) {
	h.t.Helper()
	var out [64]driver.Completion
	deadline := time.Now().Add(fireTimeout)
	for time.Now().Before(deadline) {
		h.wait(100 * time.Millisecond)
		n := h.cp().Completions(out[:])
		for i := range n {
			if on(&out[i]) {
				for j := i + 1; j < n; j++ { // give back what comes after
					h.cp().Release(&out[j])
				}
				return
			}
		}
	}
	h.t.Fatalf("%s: not done within %v", what, fireTimeout)
}

// noCompletion fails if a completion for fd arrives within quietPeriod.
func (h *harness) noCompletion(fd int, what string) {
	h.t.Helper()
	var out [16]driver.Completion
	deadline := time.Now().Add(quietPeriod)
	for time.Until(deadline) > 0 {
		h.wait(time.Until(deadline))
		for i := range h.cp().Completions(out[:]) {
			if int(out[i].Fd) == fd {
				h.t.Fatalf("%s: a completion after the final one: %+v", what, out[i])
			}
			h.cp().Release(&out[i])
		}
	}
}

// pattern returns n bytes of a sequence that makes a lost, repeated or
// reordered chunk visible: byte i of the stream is its position mod 251.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

func checkPattern(h *harness, off int, b []byte, what string) {
	h.t.Helper()
	if want := pattern(off, len(b)); !bytes.Equal(b, want) {
		h.t.Fatalf("%s: the %d bytes at offset %d differ from the stream", what, len(b), off)
	}
}

// blocking makes fd blocking (for a peer driven by a plain goroutine).
func (h *harness) blocking(fd int) {
	h.t.Helper()
	if err := unix.SetNonblock(fd, false); err != nil {
		h.t.Fatalf("set blocking: %v", err)
	}
}

// receive arms a receive on fd and collects want bytes from it, checking
// them against the pattern from offset off, releasing each buffer, and
// re-arming after a receive that ended with -ENOBUFS. It returns how many
// times the receive ran out of buffers.
func (h *harness) receive(fd, off, want int, what string) (enobufs int) {
	h.t.Helper()
	if err := h.cp().Recv(fd); err != nil {
		h.t.Fatalf("Recv: %v", err)
	}
	got := 0
	h.completions(what, func(c *driver.Completion) bool {
		if int(c.Fd) != fd || c.Op != driver.OpRecv {
			h.t.Fatalf("%s: unexpected completion %+v", what, *c)
		}
		switch {
		case c.Res > 0:
			if len(c.Data) != int(c.Res) {
				h.t.Fatalf("%s: Res %d with %d bytes of Data", what, c.Res, len(c.Data))
			}
			checkPattern(h, off+got, c.Data, what)
			got += len(c.Data)
		case c.Res == -int32(unix.ENOBUFS):
			enobufs++
		default:
			h.t.Fatalf("%s: receive ended with %d after %d of %d bytes", what, c.Res, got, want)
		}
		h.cp().Release(c)
		if !c.More && got < want {
			// Out of buffers, or ended by the driver with data: re-arm.
			if err := h.cp().Recv(fd); err != nil {
				h.t.Fatalf("%s: Recv again after Res %d: %v", what, c.Res, err)
			}
		}
		if got > want {
			h.t.Fatalf("%s: %d bytes, want %d", what, got, want)
		}
		return got == want
	})
	return enobufs
}

func testRecvInOrder(h *harness) {
	cli, srv := h.pair()
	const total = 1 << 20
	done := make(chan error, 1)
	go func() { done <- writeAll(cli, pattern(0, total), 1000) }()
	h.blocking(cli)
	h.receive(srv, 0, total, "1 MiB in 1000-byte writes")
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
}

// writeAll writes b to the blocking fd in chunks of at most chunk bytes.
func writeAll(fd int, b []byte, chunk int) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b[:min(chunk, len(b))])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

func testSendGathered(h *harness) {
	cli, srv := h.pair()
	// Both ends in the one driver: cli sends, srv receives, in rounds of
	// a few iovecs of mixed sizes; 4 MiB in all.
	off := 0
	for round := range 8 {
		var bufs [][]byte
		n := 0
		for i, size := range []int{1, 100, 4096, 65536, 0, 200000, 254287} {
			bufs = append(bufs, pattern(off+n, size))
			n += size
			if i == round%7 { // vary the iovec count
				break
			}
		}
		if n == 0 {
			continue
		}
		var got int
		if err := h.cp().Send(cli, bufs); err != nil {
			h.t.Fatalf("Send: %v", err)
		}
		if err := h.cp().Recv(srv); err != nil {
			h.t.Fatalf("Recv: %v", err)
		}
		sent := false
		h.completions(fmt.Sprintf("round %d: %d bytes in %d iovecs", round, n, len(bufs)), func(c *driver.Completion) bool {
			switch {
			case c.Op == driver.OpSend:
				if int(c.Fd) != cli || c.Res != int32(n) {
					h.t.Fatalf("send completion %+v, want %d bytes on fd %d", *c, n, cli)
				}
				sent = true
			case c.Op == driver.OpRecv && c.Res > 0:
				checkPattern(h, off+got, c.Data, "gathered send")
				got += int(c.Res)
				h.cp().Release(c)
			default:
				h.t.Fatalf("unexpected completion %+v", *c)
			}
			return sent && got == n
		})
		off += n
		h.cancelAndDrain(srv)
	}
}

func testOneInFlight(h *harness) {
	cli, srv := h.pair()
	// A send that cannot finish: far more than the socket buffers hold.
	big := make([]byte, 64<<20)
	if err := h.cp().Send(cli, [][]byte{big}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.cp().Send(cli, [][]byte{big[:1]}); !errors.Is(err, driver.ErrBusy) {
		h.t.Fatalf("a second Send while one is in flight: %v, want driver.ErrBusy", err)
	}
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	if err := h.cp().Recv(srv); !errors.Is(err, driver.ErrBusy) {
		h.t.Fatalf("a second Recv while one is armed: %v, want driver.ErrBusy", err)
	}
	for _, fd := range []int{cli, srv} {
		if err := h.cp().Cancel(fd, 0); err != nil {
			h.t.Fatal(err)
		}
	}
	finals := 0
	h.completions("both requests' ends", func(c *driver.Completion) bool {
		h.cp().Release(c)
		if !c.More {
			finals++
		}
		return finals == 2
	})
}

func testMixedWithReadiness(h *harness) {
	r, w := h.pipe()
	cli, srv := h.pair()
	h.add(r, driver.None, driver.Readable)
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	h.write(w, []byte("x"))
	h.write(cli, pattern(0, 10))
	sawPipe, got := false, 0
	var out [8]driver.Completion
	deadline := time.Now().Add(fireTimeout)
	for (!sawPipe || got < 10) && time.Now().Before(deadline) {
		for _, ev := range h.wait(100 * time.Millisecond) {
			if int(ev.Fd) == r && ev.Mask&driver.Readable != 0 {
				sawPipe = true
			}
		}
		for i := range h.cp().Completions(out[:]) {
			checkPattern(h, got, out[i].Data, "socket beside a pipe")
			got += len(out[i].Data)
			h.cp().Release(&out[i])
		}
	}
	if !sawPipe || got != 10 {
		h.t.Fatalf("pipe readable %v, %d of 10 socket bytes", sawPipe, got)
	}
	h.cancelAndDrain(srv)
}

// cancelAndDrain cancels fd's requests and waits for their final
// completion (one armed receive).
func (h *harness) cancelAndDrain(fd int) {
	h.t.Helper()
	if err := h.cp().Cancel(fd, 0); err != nil {
		h.t.Fatal(err)
	}
	h.completions("the cancelled receive's end", func(c *driver.Completion) bool {
		h.cp().Release(c)
		return int(c.Fd) == fd && !c.More
	})
}

// testBuffersRunOut receives far more than the driver's buffers hold
// without giving any back until the receive runs out (-ENOBUFS), then
// releases them, re-arms, and checks that every byte arrives once, in
// order.
func testBuffersRunOut(h *harness) {
	cli, srv := h.pair()
	h.blocking(cli)
	const total = 24 << 20
	done := make(chan error, 1)
	go func() { done <- writeAll(cli, pattern(0, total), 1<<20) }()
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	var held []driver.Completion
	got, enobufs := 0, 0
	h.completions("until the buffers run out", func(c *driver.Completion) bool {
		if c.Res > 0 {
			checkPattern(h, got, c.Data, "before ENOBUFS")
			got += int(c.Res)
			held = append(held, *c)
		}
		if !c.More {
			if c.Res == -int32(unix.ENOBUFS) {
				enobufs++
				return true
			}
			if c.Res <= 0 {
				h.t.Fatalf("the receive ended with %d, want -ENOBUFS", c.Res)
			}
			// Ended with data (a full completion queue): re-arm and go on
			// holding the buffers.
			if err := h.cp().Recv(srv); err != nil {
				h.t.Fatal(err)
			}
		}
		return false
	})
	for i := range held {
		h.cp().Release(&held[i])
	}
	enobufs += h.receive(srv, got, total-got, "after ENOBUFS")
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
	if enobufs == 0 {
		h.t.Fatal("the receive never ran out of buffers: the case proved nothing")
	}
	h.cancelAndDrain(srv)
}

func testCancelRecv(h *harness) {
	_, srv := h.pair()
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	h.wait(0) // submitted and armed
	if err := h.cp().Cancel(srv, 0); err != nil {
		h.t.Fatal(err)
	}
	h.completions("the cancelled receive", func(c *driver.Completion) bool {
		if int(c.Fd) != srv || c.Op != driver.OpRecv || c.More || c.Res != -int32(unix.ECANCELED) {
			h.t.Fatalf("completion %+v, want the receive's end with -ECANCELED", *c)
		}
		return true
	})
	h.noCompletion(srv, "after cancelling the receive")
	h.closeFd(srv)
}

func testCancelSend(h *harness) {
	cli, _ := h.pair()
	big := make([]byte, 64<<20)
	if err := h.cp().Send(cli, [][]byte{big}); err != nil {
		h.t.Fatal(err)
	}
	h.wait(0)
	if err := h.cp().Cancel(cli, 0); err != nil {
		h.t.Fatal(err)
	}
	h.completions("the cancelled send", func(c *driver.Completion) bool {
		if int(c.Fd) != cli || c.Op != driver.OpSend || c.More {
			h.t.Fatalf("completion %+v, want the send's end", *c)
		}
		// Cancelled before it finished: -ECANCELED or the bytes it got
		// out, never all of them (the peer read nothing).
		if c.Res >= int32(len(big)) || (c.Res < 0 && c.Res != -int32(unix.ECANCELED)) {
			h.t.Fatalf("cancelled send: Res %d", c.Res)
		}
		return true
	})
	h.noCompletion(cli, "after cancelling the send")
	h.closeFd(cli)
}

// testCancelRecvOnly cancels a receive while a send on the same fd is in
// flight: the receive ends, the send goes on and completes in full once
// the peer reads.
func testCancelRecvOnly(h *harness) {
	cli, srv := h.pair()
	const total = 8 << 20
	if err := h.cp().Send(cli, [][]byte{pattern(0, total)}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.cp().Recv(cli); err != nil {
		h.t.Fatal(err)
	}
	h.wait(0)
	if err := h.cp().Cancel(cli, driver.OpRecv); err != nil {
		h.t.Fatal(err)
	}
	h.completions("the cancelled receive", func(c *driver.Completion) bool {
		if c.Op != driver.OpRecv || c.More || c.Res != -int32(unix.ECANCELED) {
			h.t.Fatalf("completion %+v, want the receive's end with -ECANCELED", *c)
		}
		return true
	})
	h.blocking(srv)
	done := make(chan error, 1)
	go func() { done <- readPattern(srv, 0, total) }()
	h.completions("the send, in full", func(c *driver.Completion) bool {
		if c.Op != driver.OpSend || c.Res != total {
			h.t.Fatalf("completion %+v, want the whole send", *c)
		}
		return true
	})
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
}

func testPeerClosesMidSend(h *harness) {
	cli, srv := h.pair()
	big := make([]byte, 64<<20)
	if err := h.cp().Send(cli, [][]byte{big}); err != nil {
		h.t.Fatal(err)
	}
	h.wait(0)
	h.closeFd(srv)
	h.completions("the send to a closed peer", func(c *driver.Completion) bool {
		if int(c.Fd) != cli || c.Op != driver.OpSend {
			h.t.Fatalf("completion %+v", *c)
		}
		if c.Res >= int32(len(big)) {
			h.t.Fatalf("all of a send to a closed peer went out: %d", c.Res)
		}
		return true
	})
}

func testRecvEOF(h *harness) {
	cli, srv := h.pair()
	h.write(cli, pattern(0, 5))
	if err := unix.Shutdown(cli, unix.SHUT_WR); err != nil {
		h.t.Fatal(err)
	}
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	got := 0
	h.completions("data, then end of file", func(c *driver.Completion) bool {
		defer h.cp().Release(c)
		if c.Res > 0 {
			checkPattern(h, got, c.Data, "before EOF")
			got += int(c.Res)
			return false
		}
		if c.Res != 0 || c.More || got != 5 {
			h.t.Fatalf("completion %+v after %d bytes, want Res 0 without More after 5", *c, got)
		}
		return true
	})
}

// testCompletionAllocs checks that a steady send-receive round trip
// allocates nothing.
func testCompletionAllocs(h *harness) {
	cli, srv := h.pair()
	if err := h.cp().Recv(srv); err != nil {
		h.t.Fatal(err)
	}
	msg := [][]byte{pattern(0, 100), pattern(100, 28)}
	var out [8]driver.Completion
	round := func() {
		if err := h.cp().Send(cli, msg); err != nil {
			h.t.Fatal(err)
		}
		sent, got := false, 0
		for !sent || got < 128 {
			if _, err := h.d.Wait(h.buf, time.Second); err != nil {
				h.t.Fatal(err)
			}
			for i := range h.cp().Completions(out[:]) {
				c := &out[i]
				if c.Op == driver.OpSend {
					sent = true
				} else {
					got += len(c.Data)
				}
				h.cp().Release(c)
			}
		}
	}
	for range 10 {
		round()
	}
	if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
		h.t.Fatalf("%v allocations per send-receive round trip, want 0", allocs)
	}
	h.cancelAndDrain(srv)
}

// testCompletionStress echoes messages over several connections through
// the driver (each server end receives and sends back what came, one send
// in flight per fd) and checks that every client gets its whole stream
// back exactly once and in order.
func testCompletionStress(h *harness) {
	const conns, total = 8, 1 << 20
	type echo struct {
		srv     int
		pending [][]byte // received, not yet sent back
		sending [][]byte // the send in flight
	}
	bySrv := map[int]*echo{}
	readDone := make(chan error, conns)
	writeDone := make(chan error, conns)
	for i := range conns {
		cli, srv := h.pair()
		h.blocking(cli)
		bySrv[srv] = &echo{srv: srv}
		if err := h.cp().Recv(srv); err != nil {
			h.t.Fatal(err)
		}
		go func() { writeDone <- writeAll(cli, pattern(i, total), 4096+i) }()
		go func() { readDone <- readPattern(cli, i, total) }()
	}
	var out [64]driver.Completion
	readers := 0
	deadline := time.Now().Add(60 * time.Second)
	for readers < conns {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d clients got their echo within 60 s", readers, conns)
		}
		select {
		case err := <-readDone:
			if err != nil {
				h.t.Fatal(err)
			}
			readers++
			continue
		default:
		}
		h.wait(10 * time.Millisecond)
		for i := range h.cp().Completions(out[:]) {
			c := &out[i]
			e := bySrv[int(c.Fd)]
			switch {
			case e == nil:
				h.t.Fatalf("completion for an unknown fd: %+v", *c)
			case c.Op == driver.OpRecv && (c.Res > 0 || c.Res == -int32(unix.ENOBUFS)):
				if c.Res > 0 {
					e.pending = append(e.pending, bytes.Clone(c.Data))
				}
				h.cp().Release(c)
				if !c.More {
					// Eight streams outran the reaping (out of buffers,
					// or a full completion queue): re-arm, nothing lost.
					if err := h.cp().Recv(e.srv); err != nil {
						h.t.Fatal(err)
					}
				}
			case c.Op == driver.OpRecv:
				h.t.Fatalf("a receive ended: %+v", *c)
			case c.Op == driver.OpSend:
				n := 0
				for _, b := range e.sending {
					n += len(b)
				}
				if int(c.Res) != n {
					h.t.Fatalf("an echo of %d bytes: Res %d", n, c.Res)
				}
				e.sending = nil
			}
			if e.sending == nil && len(e.pending) > 0 {
				e.sending, e.pending = e.pending, nil
				if err := h.cp().Send(e.srv, e.sending); err != nil {
					h.t.Fatal(err)
				}
			}
		}
	}
	for range conns {
		if err := <-writeDone; err != nil {
			h.t.Fatal(err)
		}
	}
	for _, e := range bySrv {
		h.cancelAndDrain(e.srv)
	}
}

// readPattern reads total bytes from the blocking fd and checks them
// against the pattern from offset off.
func readPattern(fd, off, total int) error {
	buf := make([]byte, 64<<10)
	for got := 0; got < total; {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return fmt.Errorf("fd %d: read after %d of %d bytes: n=%d, %v", fd, got, total, n, err)
		}
		if !bytes.Equal(buf[:n], pattern(off+got, n)) {
			return fmt.Errorf("fd %d: the echo at offset %d differs", fd, got)
		}
		got += n
	}
	return nil
}
