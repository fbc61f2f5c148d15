package drivertest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

const (
	// fireTimeout is how long a case waits for an event it expects. It is
	// generous because the machine is shared; a passing run never waits it out.
	fireTimeout = 10 * time.Second
	// quietPeriod is how long a case watches for an event that must not come.
	quietPeriod = 50 * time.Millisecond
	// defaultEvents is Config.Events for cases that do not test growth.
	defaultEvents = 64
)

type testCase struct {
	name string
	// leakCheck runs goleak after the case, for cases that start goroutines.
	leakCheck bool
	run       func(h *harness)
}

var cases = []testCase{
	{name: "PipeEdgeTriggered", run: testPipeEdge},
	{name: "EventfdWakeFromGoroutine", leakCheck: true, run: testEventfdWake},
	{name: "ListenAcceptReadWrite", run: testListenAccept},
	{name: "TableGrowth", run: testTableGrowth},
	{name: "ConnectNonblocking", run: testConnectNonblocking},
	{name: "ConnectRefused", run: testConnectRefused},
	{name: "DoubleListen", run: testDoubleListen},
	{name: "AcceptNothingPending", run: testAcceptEAGAIN},
	{name: "PeerCloseEOF", run: testPeerCloseEOF},
	{name: "ResetIsReadWrite", run: testReset},
	{name: "BulkTransfer", run: testBulkTransfer},
	{name: "DelWritableKeepsReadable", run: testDelWritable},
	{name: "DelNoneStopsEvents", run: testDelNone},
	{name: "ReAddAfterDel", run: testReAddAfterDel},
	{name: "WaitTimeoutZero", run: testWaitZero},
	{name: "WaitTimeout", run: testWaitTimeout},
	{name: "SmallEventsSlice", run: testSmallEventsSlice},
	{name: "WaitAllocs", run: testWaitAllocs},
	{name: "Pollable", leakCheck: true, run: testPollable},
	{name: "StressEcho", leakCheck: true, run: testStressEcho},
}

// Run runs every conformance case against drivers built by open, each case in
// its own subtest with a fresh driver. If open returns a
// *driver.UnsupportedError the suite is skipped.
func Run(t *testing.T, open Factory) {
	t.Helper()
	probe, err := open(driver.Config{Events: defaultEvents})
	var unsup *driver.UnsupportedError
	if errors.As(err, &unsup) {
		t.Skipf("driver unsupported here: %v", err)
	}
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := probe.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	countFds(t) // warm up: the first directory read may open the runtime poller's fds
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, open, c)
		})
	}
	t.Run("Completion", func(t *testing.T) { runCompletion(t, open) })
}

func runCase(t *testing.T, open Factory, c testCase) {
	before := countFds(t)
	// Registered first, so it runs last: after the driver and every fd of
	// the case are closed.
	t.Cleanup(func() {
		if after := countFds(t); after != before {
			t.Errorf("fd count: %d open before the case, %d after (leak or double close)", before, after)
		}
	})
	if c.leakCheck {
		t.Cleanup(func() { verifyNoLeak(t) })
	}
	h := newHarness(t, open, defaultEvents)
	c.run(h)
}

// countFds counts the entries of /proc/self/fd (the directory's own fd is
// counted both times, so it cancels out).
func countFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// harness owns the driver of one case and the fds the case opens.
type harness struct {
	t    *testing.T
	d    driver.Driver
	buf  []driver.Event
	fds  map[int]bool
	open Factory
}

func newHarness(t *testing.T, open Factory, events int) *harness {
	t.Helper()
	d, err := open(driver.Config{Events: events})
	if err != nil {
		t.Fatalf("open driver: %v", err)
	}
	h := &harness{t: t, d: d, buf: make([]driver.Event, 64), fds: map[int]bool{}, open: open}
	t.Cleanup(func() {
		for fd := range h.fds {
			closeFdOK(t, fd)
		}
		if err := d.Close(); err != nil {
			t.Errorf("driver Close: %v", err)
		}
	})
	return h
}

// closeOK runs close, deferred or in a Cleanup, and reports its error.
func closeOK(tb testing.TB, what string, close func() error) {
	tb.Helper()
	if err := close(); err != nil {
		tb.Errorf("close %s: %v", what, err)
	}
}

// closeFdOK closes fd, deferred or in a Cleanup, and reports its error.
func closeFdOK(tb testing.TB, fd int) {
	tb.Helper()
	if err := unix.Close(fd); err != nil {
		tb.Errorf("close fd %d: %v", fd, err)
	}
}

// track makes the harness close fd at the end of the case.
func (h *harness) track(fd int) int {
	h.fds[fd] = true
	return fd
}

// closeFd closes fd now.
func (h *harness) closeFd(fd int) {
	h.t.Helper()
	if !h.fds[fd] {
		h.t.Fatalf("closeFd(%d): not an fd of this case", fd)
	}
	delete(h.fds, fd)
	if err := unix.Close(fd); err != nil {
		h.t.Fatalf("close(%d): %v", fd, err)
	}
}

func (h *harness) add(fd int, cur, add driver.Mask) {
	h.t.Helper()
	if err := h.d.Add(fd, cur, add); err != nil {
		h.t.Fatalf("Add(fd %d, cur %v, add %v): %v", fd, cur, add, err)
	}
}

func (h *harness) del(fd int, cur, del driver.Mask) {
	h.t.Helper()
	if err := h.d.Del(fd, cur, del); err != nil {
		h.t.Fatalf("Del(fd %d, cur %v, del %v): %v", fd, cur, del, err)
	}
}

// wait is one Wait call that fails the test on error.
func (h *harness) wait(timeout time.Duration) []driver.Event {
	h.t.Helper()
	n, err := h.d.Wait(h.buf, timeout)
	if err != nil {
		h.t.Fatalf("Wait(%v): %v", timeout, err)
	}
	if n < 0 || n > len(h.buf) {
		h.t.Fatalf("Wait returned n=%d for a slice of %d", n, len(h.buf))
	}
	return h.buf[:n]
}

// waitFd waits until fd fires with at least want and returns what fired for
// fd. It fails if fd fires without want, or more than once in one Wait call
// (a driver reports each fd at most once per call). Events for other fds are
// kept for the failure message only.
func (h *harness) waitFd(fd int, want driver.Mask, what string) driver.Mask {
	h.t.Helper()
	deadline := time.Now().Add(fireTimeout)
	var seen []driver.Event
	for time.Now().Before(deadline) {
		var got driver.Mask
		hits := 0
		for _, ev := range h.wait(100 * time.Millisecond) {
			if int(ev.Fd) == fd {
				got |= ev.Mask
				hits++
			}
			if len(seen) < 20 {
				seen = append(seen, ev)
			}
		}
		if hits > 1 {
			h.t.Fatalf("%s: fd %d reported %d times in one Wait (events: %v)", what, fd, hits, fmtEvents(seen))
		}
		if hits == 1 && got&want == want {
			return got
		}
		if hits == 1 {
			h.t.Fatalf("%s: expected %v on fd %d, it fired %v (events so far: %v)", what, want, fd, got, fmtEvents(seen))
		}
	}
	h.t.Fatalf("%s: expected %v on fd %d within %v, nothing came for it (events seen: %v)", what, want, fd, fireTimeout, fmtEvents(seen))
	return 0
}

// quiet watches for quietPeriod and fails if fd (any fd when fd < 0) fires.
func (h *harness) quiet(fd int, what string) {
	h.t.Helper()
	deadline := time.Now().Add(quietPeriod)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		for _, ev := range h.wait(left) {
			if fd < 0 || int(ev.Fd) == fd {
				h.t.Fatalf("%s: expected no event for %s within %v, got %v", what, fdName(fd), quietPeriod, ev)
			}
		}
	}
}

func fdName(fd int) string {
	if fd < 0 {
		return "any fd"
	}
	return fmt.Sprintf("fd %d", fd)
}

func fmtEvents(evs []driver.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d:%v", ev.Fd, ev.Mask)
	}
	return b.String()
}
