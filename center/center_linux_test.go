package center

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

func TestSubmitInlineOnOwner(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		c := start(t, cfg)
		var order []string
		on(t, c, func() {
			if !c.InOwner() {
				t.Error("InOwner is false inside a submitted func")
			}
			order = append(order, "outer-start")
			if err := c.Submit(func() { order = append(order, "inner") }); err != nil {
				t.Errorf("Submit on owner: %v", err)
			}
			order = append(order, "outer-end")
		})
		if got := strings.Join(order, ","); got != "outer-start,inner,outer-end" {
			t.Fatalf("Submit on the owner did not run inline: order %s", got)
		}
		if c.InOwner() {
			t.Fatal("InOwner is true on the test goroutine")
		}
	})
}

func TestSubmitWaitOnWorkerRefuses(t *testing.T) {
	cfg := Config{Driver: "epoll"}
	a, b := start(t, cfg), start(t, cfg)
	var errSelf, errOther error
	on(t, a, func() {
		errSelf = a.SubmitWait(context.Background(), func() {})
		errOther = b.SubmitWait(context.Background(), func() {})
	})
	if !errors.Is(errSelf, ErrOnWorker) || !errors.Is(errOther, ErrOnWorker) {
		t.Fatalf("SubmitWait on a worker: got %v (own center) and %v (other center), want ErrOnWorker", errSelf, errOther)
	}
}

// TestOwnerOnlyMethodsPanicForOthers: owner misuse is a programming error
// that panics with a message naming the call, like unlocking an unlocked
// mutex, instead of an error a caller could drop.
func TestOwnerOnlyMethodsPanicForOthers(t *testing.T) {
	c := start(t, Config{})
	var tm Timer
	tm.Init(func() {})
	for name, call := range map[string]func(){
		"AddTimer":    func() { c.AddTimer(&tm, time.Second) },
		"CancelTimer": func() { c.CancelTimer(&tm) },
		"AddFile":     func() { _ = c.AddFile(0, driver.Readable, func(int, driver.Mask) {}) },
		"DelFile":     func() { _ = c.DelFile(0, driver.Readable) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, name+" called off the loop's goroutine") {
					t.Errorf("%s off the owner: recovered %v, want a panic naming it", name, r)
				}
			}()
			call()
		}()
	}
}

// TestNoLostWakeup has many producers post while the worker keeps going to
// sleep (no spinning): every event must run, none may wait for a wake-up that
// never comes.
func TestNoLostWakeup(t *testing.T) {
	rounds := raceOr(10_000, 100_000)
	if os.Getenv("GOMSGR_STRESS") != "" {
		rounds = 1_000_000 // GOMSGR_STRESS=1: the larger setting
	}
	forEachMode(t, func(t *testing.T, cfg Config) {
		cfg.Spin = -1
		c := start(t, cfg)
		const producers = 8
		var ran atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, producers)
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := make(chan struct{}, 1)
				fn := func() { ran.Add(1); done <- struct{}{} }
				for i := 0; i < rounds/producers; i++ {
					if err := c.Submit(fn); err != nil {
						errc <- err
						return
					}
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						errc <- errors.New("an event did not run within 10s: lost wake-up")
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if got, want := ran.Load(), int64(rounds/producers*producers); got != want {
			t.Fatalf("%d events ran, want %d", got, want)
		}
		st := c.Stats()
		t.Logf("%d rounds: %d loops, %d sleeps, %d eventfd wake-ups", rounds, st.Loops, st.Sleeps, st.Wakeups)
		if st.Sleeps == 0 {
			t.Fatal("the worker never slept: the test did not exercise wake-ups")
		}
	})
}

// TestExternalOrderWithOverflow pushes through a tiny queue so that most
// posts overflow, and checks exactly-once and per-producer order.
func TestExternalOrderWithOverflow(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		cfg.QueueSize = 4
		c := start(t, cfg)
		const producers = 8
		n := raceOr(2_000, 20_000)
		next := make([]int, producers) // owner only
		var bad atomic.Value
		var total atomic.Int64
		var wg sync.WaitGroup
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				for i := 0; i < n; i++ {
					i := i
					if err := c.Submit(func() {
						if next[p] != i {
							bad.CompareAndSwap(nil, "producer order broken")
						}
						next[p] = i + 1
						total.Add(1)
					}); err != nil {
						t.Errorf("producer %d: Submit %d: %v", p, i, err)
						return
					}
				}
			}(p)
		}
		wg.Wait()
		on(t, c, func() {})
		if v := bad.Load(); v != nil {
			t.Fatal(v)
		}
		if got := total.Load(); got != producers*int64(n) {
			t.Fatalf("%d events ran, want %d", got, producers*n)
		}
	})
}

func TestEventCoalesces(t *testing.T) {
	c := start(t, Config{})
	var runs atomic.Int32
	ev := NewEvent(func() { runs.Add(1) })
	release := make(chan struct{})
	blocked := make(chan struct{})
	if err := c.Submit(func() { close(blocked); <-release }); err != nil {
		t.Fatal(err)
	}
	<-blocked
	for i := 0; i < 100; i++ {
		if err := c.Post(ev); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	on(t, c, func() {})
	if got := runs.Load(); got != 1 {
		t.Fatalf("an Event posted 100 times while queued ran %d times, want 1", got)
	}
	if err := c.Post(ev); err != nil {
		t.Fatal(err)
	}
	on(t, c, func() {})
	if got := runs.Load(); got != 2 {
		t.Fatalf("after it ran, a new post ran it %d times in total, want 2", got)
	}
}

// TestIdleMakesNoWakeups counts loop turns of an idle center with no timers
// over one second: there must be none.
func TestIdleMakesNoWakeups(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		c := start(t, cfg)
		waitFor(t, 5*time.Second, "the worker to sleep", func() bool { return c.state.Load() == stateSleeping })
		before := c.Stats()
		time.Sleep(time.Second)
		after := c.Stats()
		if after.Loops != before.Loops || after.Sleeps != before.Sleeps {
			t.Fatalf("idle worker made %d loop turns and %d sleeps in one second, want 0",
				after.Loops-before.Loops, after.Sleeps-before.Sleeps)
		}
	})
}

func TestFileEvents(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		cfg.Events = 4 // force table growth
		c := start(t, cfg)
		var fds [][2]int
		for i := 0; i < 20; i++ {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			fds = append(fds, p)
		}
		defer closePipes(t, fds)
		got := make(chan int, 100)
		on(t, c, func() {
			for _, p := range fds {
				err := c.AddFile(p[0], driver.Readable, func(fd int, m driver.Mask) {
					var b [16]byte
					for {
						if _, err := unix.Read(fd, b[:]); err != nil {
							break
						}
					}
					got <- fd
				})
				if err != nil {
					t.Errorf("AddFile: %v", err)
				}
			}
		})
		for _, p := range fds {
			writeString(t, p[1], "x")
			select {
			case fd := <-got:
				if fd != p[0] {
					t.Fatalf("handler ran for fd %d, want %d", fd, p[0])
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no read event for pipe fd %d", p[0])
			}
		}
		on(t, c, func() {
			if err := c.DelFile(fds[0][0], driver.Readable); err != nil {
				t.Errorf("DelFile: %v", err)
			}
			if m := c.FileMask(fds[0][0]); m != driver.None {
				t.Errorf("mask after DelFile = %s", m)
			}
		})
		writeString(t, fds[0][1], "x")
		writeString(t, fds[1][1], "y")
		select {
		case fd := <-got:
			if fd != fds[1][0] {
				t.Fatalf("handler ran for fd %d after DelFile", fd)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event for the still-registered pipe")
		}
		on(t, c, func() {
			for _, p := range fds[1:] {
				if err := c.DelFile(p[0], driver.Readable); err != nil {
					t.Errorf("DelFile: %v", err)
				}
			}
		})
	})
}

func TestCloseRunsPendingAndRefusesLater(t *testing.T) {
	leakcheck.Check(t)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	for i := 0; i < 10; i++ {
		if err := c.Submit(func() { ran.Add(1) }); err != nil {
			t.Fatalf("Submit %d before Close: %v", i, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 10 {
		t.Fatalf("Close ran %d of 10 pending events", ran.Load())
	}
	if err := c.Submit(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := c.Run(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}

// TestCloseWhilePosting stops and closes a center while producers keep
// submitting: every accepted task runs exactly once, later ones get
// ErrClosed, and (under -race) a producer's wake-up never races with Close
// closing the eventfd.
func TestCloseWhilePosting(t *testing.T) {
	for round := 0; round < raceOr(20, 100); round++ {
		leakcheck.Check(t)
		c, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Run() }()
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if err := c.Submit(func() { ran.Add(1) }); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Submit: %v", err)
						}
						return
					}
					accepted.Add(1)
					if accepted.Load()%8 == 0 {
						// Let the loop fall asleep, so that some Submits
						// wake it through the eventfd.
						time.Sleep(20 * time.Microsecond)
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5+1) * 200 * time.Microsecond)
		c.Stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if accepted.Load() != ran.Load() {
			t.Fatalf("round %d: %d tasks accepted, %d ran", round, accepted.Load(), ran.Load())
		}
	}
}

// registerRefusing registers, once per test binary (-count may run a test
// again), a driver the "kernel" always refuses.
var registerRefusing = sync.OnceFunc(func() {
	driver.Register("test-refuse", func(driver.Config) (driver.Driver, error) {
		return nil, &driver.UnsupportedError{Driver: "test-refuse", Err: unix.ENOSYS}
	})
})

func TestFallbackToEpoll(t *testing.T) {
	registerRefusing()
	var logs strings.Builder
	leakcheck.Check(t)
	c, err := New(Config{Driver: "test-refuse", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("New with a refused driver: %v, want fallback", err)
	}
	defer closeCenter(t, c)
	if c.DriverName() != "epoll" {
		t.Fatalf("driver after fallback = %q, want epoll", c.DriverName())
	}
	if !strings.Contains(logs.String(), "falling back") || !strings.Contains(logs.String(), "test-refuse") {
		t.Fatalf("fallback was not logged with its reason; log: %q", logs.String())
	}
	if _, err := New(Config{Driver: "no-such"}); !errors.Is(err, driver.ErrUnknown) {
		t.Fatalf("unknown driver: %v, want ErrUnknown", err)
	}
}

func TestStackPickAndStop(t *testing.T) {
	leakcheck.Check(t)
	s, err := NewStack(StackConfig{Name: "test", Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	picked := map[int]int{}
	var ws []*Worker
	for i := 0; i < 9; i++ {
		w := s.Pick()
		picked[w.ID()]++
		ws = append(ws, w)
	}
	for id, n := range picked {
		if n != 3 {
			t.Fatalf("worker %d picked %d times of 9 over 3 workers, want 3 each: %v", id, n, picked)
		}
	}
	ws[0].Release()
	ws[3].Release()
	if w := s.Pick(); w.ID() != ws[0].ID() {
		t.Fatalf("Pick after releasing worker %d chose %d", ws[0].ID(), w.ID())
	}
	// The worker goroutines carry pprof labels, once they run: NewStack
	// does not wait for them to start (a profile taken at once has found
	// them inside pprof.Do, before the labels were set).
	var buf strings.Builder
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		buf.Reset()
		if err := pprofGoroutines(&buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), `"gomsgr.worker":"`) && strings.Contains(buf.String(), `"gomsgr.stack":"test"`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("worker goroutines lack pprof labels; goroutine profile:\n%s", buf.String())
		}
	}
	var ran atomic.Int32
	for _, w := range s.Workers() {
		for i := 0; i < 100; i++ {
			if err := w.Center().Submit(func() { ran.Add(1) }); err != nil {
				t.Fatalf("worker %d: Submit %d: %v", w.ID(), i, err)
			}
		}
	}
	if err := s.Stop(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != 300 {
		t.Fatalf("%d of 300 events ran before Stop returned", got)
	}
	if err := s.Workers()[0].Center().Submit(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Stop: %v, want ErrClosed", err)
	}
}

func TestZeroAllocs(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeCenter(t, c)
	var tm Timer
	tm.Init(func() {})
	if a := testing.AllocsPerRun(1000, func() {
		c.AddTimer(&tm, time.Duration(tm.when%1000)*time.Millisecond+time.Millisecond)
		c.CancelTimer(&tm)
	}); a != 0 {
		t.Fatalf("AddTimer+CancelTimer: %.1f allocs, want 0", a)
	}
	ev := NewEvent(func() {})
	if a := testing.AllocsPerRun(1000, func() {
		if err := c.Post(ev); err != nil {
			t.Fatal(err)
		}
		c.ext.drain()
	}); a != 0 {
		t.Fatalf("Post+run of an Event: %.1f allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { c.othersRunnable() }); a != 0 {
		t.Fatalf("othersRunnable (a busy locked worker's check, every turn): %.1f allocs, want 0", a)
	}
	if c.park.f != nil {
		// As if parked with events: each nudge polls the fd and moves the
		// park's deadline.
		writeWake(c.efd)
		c.park.parked.Store(true)
		parkers.parked.Add(1)
		a := testing.AllocsPerRun(1000, func() {
			parkers.last.Store(0) // due
			parkers.nudge(nudgeEveryNs)
		})
		parkers.parked.Add(-1)
		c.park.parked.Store(false)
		if a != 0 {
			t.Fatalf("parkers.nudge (a busy worker's look at the parked ones): %.1f allocs, want 0", a)
		}
		if c.Stats().Nudged == 0 {
			t.Fatal("parkers.nudge did not nudge a parked center with events")
		}
	}
	_ = runtime.NumGoroutine
}

// TestAddFileDuringDispatch: a handler that registers many fds while the
// rest of its batch is still being dispatched must not lose those events
// (the fired-events buffer once grew under the dispatch loop; found with
// 3000 connections accepted on one worker).
func TestAddFileDuringDispatch(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		cfg.Events = 4
		c := start(t, cfg)
		pipe := func() [2]int {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			return p
		}
		var first, extra [][2]int
		for i := 0; i < 4; i++ {
			first = append(first, pipe())
		}
		for i := 0; i < 32; i++ {
			extra = append(extra, pipe())
		}
		defer closePipes(t, append(first, extra...))
		var ran atomic.Int32
		added := false
		on(t, c, func() {
			for _, p := range first {
				err := c.AddFile(p[0], driver.Readable, func(fd int, _ driver.Mask) {
					var b [8]byte
					if n, err := unix.Read(fd, b[:]); n != 1 || err != nil {
						t.Errorf("read in fd %d's handler: %d bytes, %v; want the 1 byte written", fd, n, err)
					}
					ran.Add(1)
					if !added {
						added = true
						for _, q := range extra {
							if err := c.AddFile(q[0], driver.Readable, func(int, driver.Mask) {}); err != nil {
								t.Errorf("AddFile(%d) in a handler: %v", q[0], err)
							}
						}
					}
				})
				if err != nil {
					t.Errorf("AddFile(%d): %v", p[0], err)
				}
			}
		})
		for _, p := range first {
			writeString(t, p[1], "x")
		}
		waitFor(t, 10*time.Second, "all 4 handlers of the batch", func() bool { return ran.Load() == 4 })
		on(t, c, func() {
			for _, p := range append(first, extra...) {
				if err := c.DelFile(p[0], driver.Readable); err != nil {
					t.Errorf("DelFile(%d): %v", p[0], err)
				}
			}
		})
	})
}

// closePipes closes the test's pipes, reporting a failed close.
func closePipes(t *testing.T, pipes [][2]int) {
	t.Helper()
	for _, p := range pipes {
		for _, fd := range p {
			if err := unix.Close(fd); err != nil {
				t.Errorf("close pipe fd %d: %v", fd, err)
			}
		}
	}
}

// writeString writes s to fd in one write, failing the test otherwise.
func writeString(t *testing.T, fd int, s string) {
	t.Helper()
	if n, err := unix.Write(fd, []byte(s)); n != len(s) || err != nil {
		t.Fatalf("write %q to fd %d: %d bytes, %v", s, fd, n, err)
	}
}
