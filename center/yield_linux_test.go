package center

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/driver"
	"golang.org/x/sys/unix"
)

// TestBusyWorkerYields: a busy worker, on a locked thread or not, lets the
// other goroutines of its P run after its turns, instead of until the
// runtime preempts it (10 ms, thousands of turns): with one P, a goroutine
// that yields in a loop sees the busy loop advance by a few turns at a
// time.
func TestBusyWorkerYields(t *testing.T) {
	for _, w := range []WaitMode{WaitThread, WaitPoller} {
		t.Run(w.String(), func(t *testing.T) { testBusyWorkerYields(t, w) })
	}
}

func testBusyWorkerYields(t *testing.T, w WaitMode) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := start(t, Config{Wait: w, Spin: -1})
	turns := keepBusy(t, c)
	worst := int64(0)
	last := turns.Load()
	for range 500 {
		runtime.Gosched()
		cur := turns.Load()
		worst = max(worst, cur-last)
		last = cur
	}
	if worst > 100 {
		t.Fatalf("the busy loop ran %d turns while this goroutine waited for the P", worst)
	}
}

// keepBusy gives c two sockets that keep its loop busy (each readable edge
// reads a byte and writes one to the other end, so every turn has a file
// event), starts the bouncing and returns the count of handler runs. The
// test's cleanup stops it.
func keepBusy(t *testing.T, c *Center) *atomic.Int64 {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	turns := new(atomic.Int64)
	var stop atomic.Bool
	bounce := func(fd int, _ driver.Mask) {
		var b [1]byte
		for {
			if n, _ := unix.Read(fd, b[:]); n <= 0 {
				break
			}
		}
		turns.Add(1)
		if !stop.Load() {
			_, _ = unix.Write(fd, b[:])
		}
	}
	t.Cleanup(func() {
		stop.Store(true)
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
	})
	done := make(chan error, 1)
	setup := Event{}
	setup.Init(func() {
		err := c.AddFile(fds[0], driver.Readable, bounce)
		if err == nil {
			err = c.AddFile(fds[1], driver.Readable, bounce)
		}
		done <- err
	})
	if err := c.Post(&setup); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[0], []byte{1}); err != nil {
		t.Fatal(err)
	}
	for turns.Load() == 0 {
		runtime.Gosched()
	}
	return turns
}

// TestSelfPostEndsTurn: an external event that posts itself again runs
// once per turn, so file events still get their turn (drain used to run
// it again and again in one turn).
func TestSelfPostEndsTurn(t *testing.T) {
	c := start(t, Config{Spin: -1})
	var stop atomic.Bool
	var ev Event
	ev.Init(func() {
		if !stop.Load() {
			_ = c.Post(&ev)
		}
	})
	defer stop.Store(true)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) }()
	got := make(chan struct{}, 1)
	setup := Event{}
	setup.Init(func() {
		if err := c.AddFile(fds[0], driver.Readable, func(int, driver.Mask) {
			select {
			case got <- struct{}{}:
			default:
			}
		}); err != nil {
			t.Error(err)
		}
		_ = c.Post(&ev) // from now on the loop always has an event queued
	})
	if err := c.Post(&setup); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a file event never ran while an external event kept posting itself")
	}
}

// TestParkedWorkerNudged: with one P kept busy by a worker, a parked
// WaitPoller worker whose fd becomes ready is woken by the busy worker's
// nudge (nudge.go) within a few of its turns, whether another goroutine
// waits for the P (the test's, yielding in a loop) or none does (the
// test's blocks). The runtime alone looks at its poller only when the P is
// idle or from sysmon, every 10 ms: thousands of turns.
func TestParkedWorkerNudged(t *testing.T) {
	for _, waiting := range []bool{true, false} {
		name := "GoroutineWaiting"
		if !waiting {
			name = "NoneWaiting"
		}
		t.Run(name, func(t *testing.T) { testParkedWorkerNudged(t, waiting) })
	}
}

func testParkedWorkerNudged(t *testing.T, waiting bool) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	busy := start(t, Config{Wait: WaitPoller, Spin: -1})
	parked := start(t, Config{Wait: WaitPoller, Spin: -1})
	for parked.state.Load() != stateSleeping || !parked.park.parked.Load() {
		runtime.Gosched() // until the second worker is parked in the poller
	}
	turns := keepBusy(t, busy)
	// The P stays busy from here on: the worker bounces (and, if waiting,
	// this goroutine is always runnable).
	var at atomic.Int64
	ran := make(chan struct{})
	ev := NewEvent(func() { at.Store(turns.Load()); close(ran) })
	from, nudges := turns.Load(), parked.Stats().Nudged
	if err := parked.Post(ev); err != nil {
		t.Fatal(err)
	}
	done := func() bool {
		select {
		case <-ran:
			return true
		default:
			return false
		}
	}
	if waiting {
		for end := time.Now().Add(10 * time.Second); !done() && time.Now().Before(end); {
			runtime.Gosched()
		}
	} else {
		select { // blocked: nothing of ours waits for the P
		case <-ran:
		case <-time.After(10 * time.Second):
		}
	}
	if !done() {
		t.Fatal("the parked worker never ran the posted event")
	}
	// Woken by a nudge (one is due every 200 µs: a turn, a read and a
	// write on a socketpair, takes at least a microsecond), or by the
	// runtime before any nudge was due (the P can idle for a moment): then
	// within a few turns.
	n, nudged := at.Load()-from, parked.Stats().Nudged-nudges
	t.Logf("the parked worker ran the posted event after %d turns of the busy one (nudged %d times)", n, nudged)
	if n > 1000 || (nudged == 0 && n > 50) {
		t.Fatalf("the parked worker ran the posted event after %d turns of the busy one (nudged %d times)", n, nudged)
	}
}
