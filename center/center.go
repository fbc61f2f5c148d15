package center

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/goid"
)

// Errors returned by Center methods.
var (
	// ErrClosed is returned for work posted to a center that is closed.
	ErrClosed = errors.New("center: closed")
	// ErrOnWorker is returned by SubmitWait when called from any center's
	// owner goroutine: waiting there could deadlock two workers.
	ErrOnWorker = errors.New("center: blocking submit from a worker goroutine")
	// ErrRunning is returned by Run when the loop already runs.
	ErrRunning = errors.New("center: already running")
)

// Loop states, for the race-free wake-up: the owner publishes stateSleeping
// before its last look at the queue; a producer that pushed and then sees
// stateSleeping moves it to stateNotified and writes the eventfd. Go's atomics
// are sequentially consistent, so either the owner sees the task or the
// producer sees the owner asleep.
const (
	stateRunning int32 = iota
	stateSleeping
	stateNotified
)

// Center is one event loop (Ceph's EventCenter). See the package comment.
type Center struct {
	cfg    Config
	drv    driver.Driver
	events []driver.Event
	files  []fileEntry
	nfiles int
	wheel  wheel
	nowNs  int64 // Nanotime, read at least once per loop turn (Now)
	fresh  bool  // nowNs was read at the end of the previous turn
	lastN  int   // events returned by the last driver Wait
	// runnable is the sample othersRunnable reads (WaitThread), at most
	// once per yieldCheckNs (checked, the clock of the last read).
	runnable [1]metrics.Sample
	checked  int64

	cpl    driver.Completer    // nil unless completion mode is on
	comps  []compEntry         // completion-mode fds, indexed by fd
	cbuf   []driver.Completion // completions taken from the driver, [:cn] not yet handled
	cn     int
	submit bool // a Send was queued this turn: flushSends

	ext     extQueue
	state   atomic.Int32
	efd     int
	owner   atomic.Uintptr // goid of the running loop, 0 when not running
	posters atomic.Int64   // producers between their closed check and push
	closed  atomic.Bool
	stop    atomic.Bool
	stopEv  Event
	running sync.Mutex // held by Run

	park parker
	st   stats
}

// New creates a center with its wake-up eventfd and its driver. The loop
// does not run until a goroutine calls Run. Off Linux it returns an error
// wrapping errors.ErrUnsupported.
func New(cfg Config) (*Center, error) {
	cfg = cfg.withDefaults()
	efd, err := newWakeFd()
	if err != nil {
		return nil, fmt.Errorf("center %d: wake-up eventfd: %w", cfg.ID, err)
	}
	c := &Center{cfg: cfg, efd: efd}
	c.runnable[0].Name = "/sched/goroutines/runnable:goroutines"
	// A locked thread lets the driver use thread-bound kernel features:
	// with io_uring, CoopTaskrun (see driver.Config.OneThread; its gain is
	// in bench/RESULTS.md).
	dcfg := driver.Config{Events: cfg.Events, OneThread: cfg.Wait == WaitThread, Completion: cfg.IO == IOCompletion}
	drv, err := driver.Open(cfg.Driver, dcfg)
	var unsup *driver.UnsupportedError
	if err != nil && errors.As(err, &unsup) && dcfg.Completion {
		cfg.Logger.Warn("center: completion mode refused by the kernel, using readiness",
			"center", cfg.ID, "driver", cfg.Driver, "reason", err)
		dcfg.Completion = false
		drv, err = driver.Open(cfg.Driver, dcfg)
	}
	if err != nil && errors.As(err, &unsup) && cfg.Driver != "epoll" {
		cfg.Logger.Warn("center: driver refused by the kernel, falling back to epoll",
			"center", cfg.ID, "driver", cfg.Driver, "reason", err)
		c.cfg.Driver = "epoll"
		drv, err = driver.Open("epoll", dcfg)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("center %d: %w", cfg.ID, err), c.closeFds())
	}
	c.drv = drv
	if c.cpl, _ = drv.(driver.Completer); c.cpl != nil {
		c.cbuf = make([]driver.Completion, 256)
	}
	c.events = make([]driver.Event, cfg.Events)
	c.files = make([]fileEntry, cfg.Events)
	c.wheel.init(cfg.Tick, cfg.WheelSlots, c.now())
	c.ext.init(cfg.QueueSize)
	c.stopEv.Init(func() {})
	if err := c.AddFile(efd, driver.Readable, c.drainWake); err != nil {
		return nil, errors.Join(err, c.closeFds())
	}
	if cfg.Wait == WaitPoller {
		if err := c.park.init(c); err != nil {
			return nil, errors.Join(err, c.closeFds())
		}
	}
	return c, nil
}

// ID returns the center's id (Config.ID).
func (c *Center) ID() int { return c.cfg.ID }

// DriverName returns the name of the driver in use, after any fallback.
func (c *Center) DriverName() string { return c.drv.Name() }

// WaitMode returns how the worker blocks.
func (c *Center) WaitMode() WaitMode { return c.cfg.Wait }

// InOwner reports whether the caller is the goroutine running the loop.
func (c *Center) InOwner() bool { return c.owner.Load() == goid.Current() }

// checkOwner allows owner-only calls from the owner, and from anyone before
// the loop starts (set-up) or after it ends (tear-down). Any other caller
// is a programming error, like unlocking an unlocked mutex: it panics,
// naming the call, rather than return an error that a caller could drop
// and go on with a file or timer it believes armed.
func (c *Center) checkOwner(call string) {
	if o := c.owner.Load(); o != 0 && o != goid.Current() {
		panic(fmt.Sprintf("center %d: %s called off the loop's goroutine (owner-only; use Submit or Post)", c.cfg.ID, call))
	}
}

// Run runs the loop on the calling goroutine until Stop. It returns
// ErrRunning if the loop already runs and ErrClosed after Close.
func (c *Center) Run() error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !c.running.TryLock() {
		return ErrRunning
	}
	defer c.running.Unlock()
	if c.cfg.Wait == WaitThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	me := goid.Current()
	c.owner.Store(me)
	registerWorker(me)
	defer func() {
		unregisterWorker(me)
		c.owner.Store(0)
	}()
	for !c.stop.Load() {
		c.processEvents()
	}
	c.ext.drain()
	return nil
}

// Stop asks the loop to return after the events it is running. Posted events
// still queued run before Run returns. Stop may be called from any goroutine
// and more than once; Run may be called again afterwards.
func (c *Center) Stop() {
	c.stop.Store(true)
	_ = c.Post(&c.stopEv) // wakes the loop
}

// Close releases the driver and the eventfd. The loop must have returned (or
// never run). Events posted before Close that did not run yet run on the
// caller, so nothing is left queued; posts after Close return ErrClosed.
// Registered fds other than the center's own are not closed.
func (c *Center) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.running.Lock() // waits for Run to return
	defer c.running.Unlock()
	for c.posters.Load() != 0 {
		runtime.Gosched() // a producer is between its check and its push
	}
	c.ext.drain()
	err := c.closeFds()
	c.endQuiesces() // the ring is gone, and with it every request
	return err
}

func (c *Center) closeFds() error {
	var errs []error
	if c.park.f != nil {
		parkers.remove(&c.park)
		errs = append(errs, c.park.f.Close())
	}
	if c.efd >= 0 {
		errs = append(errs, closeFd(c.efd))
		c.efd = -1
	}
	if c.drv != nil {
		errs = append(errs, c.drv.Close())
	}
	return errors.Join(errs...)
}

// now refreshes and returns the loop's clock (Nanotime).
func (c *Center) now() int64 {
	c.nowNs = int64(Nanotime())
	return c.nowNs
}

// processEvents is one turn of the loop: wait for file events (or not, if
// external events are pending), dispatch them, fire due timers, then run
// external events.
func (c *Center) processEvents() {
	c.st.loops.Add(1)
	if c.nfiles > len(c.events) {
		c.events = make([]driver.Event, 2*c.nfiles)
	}
	now := c.nowNs
	if !c.fresh {
		now = c.now()
	}
	c.fresh = false
	timeout := c.wheel.timeout(now)
	var n int
	if c.ext.empty() && timeout != 0 {
		n = c.wait(timeout)
	} else {
		n = c.poll(0)
	}
	// One reading when the events begin: Now for the handlers, the start
	// of a busy turn for OnBusy.
	start := c.now()
	c.dispatch(n)
	if c.cpl != nil {
		n += c.dispatchCompletions()
	}
	if n > 0 && (c.wheel.count > 0 || !c.ext.empty()) {
		c.now() // fresh for the timers and external events
	}
	fired := 0
	if c.wheel.count > 0 {
		fired = c.wheel.expire(c.nowNs)
	}
	ran := c.ext.drain()
	if c.cpl != nil {
		c.flushSends()
	}
	if c.cfg.OnBusy != nil && (n > 0 || ran > 0 || fired > 0) {
		// This reading also serves the next turn's deadline check.
		c.reportBusy(start)
	}
	busy := n > 0 || ran > 0 || fired > 0
	if busy {
		// A busy P keeps parked workers from being woken, whether or not
		// goroutines wait for it: nudge those with events (nudge.go). A
		// nudged worker is runnable, so the yield below lets it run.
		parkers.nudge(c.nowNs)
	}
	if busy && c.nowNs-c.checked >= yieldCheckNs && c.othersRunnable() {
		// A busy worker never parks in Go (it parks only when it has
		// nothing to do): without this it would give its P up only when
		// the runtime preempts it (every 10 ms), and with more workers
		// (or other goroutines) than Ps each waited for those slices: on
		// a locked thread a p99.9 of 300 ms (16 single-worker messengers
		// at GOMAXPROCS=1), in the poller 20 to 50 ms (2 to 4 workers on
		// one P). The yield of a locked thread always costs two thread
		// switches (the runtime hands the P to another thread and back,
		// even with nothing else to run), so it is made only when
		// goroutines wait.
		runtime.Gosched()
	}
}

// yieldCheckNs spaces a busy locked worker's reads of the runnable count:
// a read takes the runtime's scheduler lock, which every worker of a
// many-core machine would otherwise take on every turn. A goroutine made
// runnable waits at most this much longer for the P.
const yieldCheckNs = int64(20 * time.Microsecond)

// othersRunnable reports whether goroutines wait for a P (the runtime's
// /sched/goroutines/runnable count; reading it costs tens of nanoseconds
// and allocates nothing).
func (c *Center) othersRunnable() bool {
	c.checked = c.nowNs
	metrics.Read(c.runnable[:])
	v := c.runnable[0].Value
	return v.Kind() != metrics.KindUint64 || v.Uint64() > 0
}

// reportBusy reports the turn that began at start to Config.OnBusy; the
// clock reading it takes is reused by the next turn.
func (c *Center) reportBusy(start int64) {
	end := c.now()
	c.fresh = true
	c.cfg.OnBusy(c.cfg.ID, time.Duration(end-start))
}

// poll calls the driver once, growing the events buffer when it came back
// full.
func (c *Center) poll(timeout time.Duration) int {
	n, err := c.drv.Wait(c.events, timeout)
	c.lastN = n
	if c.cpl != nil && c.cn < len(c.cbuf) {
		c.cn += c.cpl.Completions(c.cbuf[c.cn:])
	}
	if err != nil {
		c.st.waitErrors.Add(1)
		c.cfg.Logger.Error("center: driver wait failed", "center", c.cfg.ID, "err", err)
		return 0
	}
	return n
}

// wait spins for the configured budget, then blocks until file events, an
// external event or the timeout.
func (c *Center) wait(timeout time.Duration) int {
	if spin := c.cfg.Spin; spin > 0 {
		start := time.Now()
		for {
			if n := c.poll(0); n > 0 || c.cn > 0 {
				return n
			}
			if !c.ext.empty() {
				return 0
			}
			if c.cfg.Wait == WaitPoller {
				// A goroutine our handlers made runnable sits in this P's
				// runnext slot; yield so that it runs while we spin.
				runtime.Gosched()
			}
			el := time.Since(start)
			if el >= spin || (timeout >= 0 && el >= timeout) {
				if timeout > 0 {
					timeout -= el
					if timeout <= 0 {
						return 0
					}
				}
				break
			}
		}
	}
	c.state.Store(stateSleeping)
	if !c.ext.empty() || c.stop.Load() {
		c.state.Store(stateRunning)
		return c.poll(0)
	}
	c.st.sleeps.Add(1)
	var n int
	if c.cfg.Wait == WaitPoller {
		n = c.park.wait(timeout)
	} else {
		n = c.poll(timeout)
	}
	c.state.Store(stateRunning)
	return n
}

// wake is called by producers after a push.
func (c *Center) wake() {
	if c.state.Load() == stateSleeping && c.state.CompareAndSwap(stateSleeping, stateNotified) {
		c.st.wakeups.Add(1)
		writeWake(c.efd)
	}
}

// drainWake is the eventfd's read handler.
func (c *Center) drainWake(fd int, _ driver.Mask) { drainWakeFd(fd) }

// Post queues e to run on the owner. It never runs e inline and never
// blocks; an Event already queued is not queued twice.
func (c *Center) Post(e *Event) error {
	if e.queued.Load() || !e.queued.CompareAndSwap(false, true) {
		return nil
	}
	if err := c.push(task{ev: e}); err != nil {
		e.queued.Store(false)
		return err
	}
	return nil
}

// Submit runs fn on the owner: inline when called on the owner (Ceph's
// submit_to with the owner check), queued otherwise. It never blocks.
func (c *Center) Submit(fn func()) error {
	if c.owner.Load() == goid.Current() {
		fn()
		return nil
	}
	return c.push(task{fn: fn})
}

// SubmitWait runs fn on the owner and waits until it has run or ctx is done.
// Called on a worker goroutine (of any center) it returns ErrOnWorker instead
// of risking a deadlock. When ctx ends first, fn may still run later.
func (c *Center) SubmitWait(ctx context.Context, fn func()) error {
	if isWorker(goid.Current()) {
		return ErrOnWorker
	}
	done := make(chan struct{})
	if err := c.push(task{fn: func() { fn(); close(done) }}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("center %d: submit: %w", c.cfg.ID, ctx.Err())
	}
}

func (c *Center) push(t task) error {
	c.posters.Add(1)
	if c.closed.Load() {
		c.posters.Add(-1)
		return ErrClosed
	}
	c.ext.push(t)
	// Wake before leaving: Close waits for posters to reach zero before it
	// closes the eventfd, so the write below never meets a closed fd.
	c.wake()
	c.posters.Add(-1)
	return nil
}

// Stats is a snapshot of a center's loop counters.
type Stats struct {
	// Loops counts turns of the loop.
	Loops uint64
	// Sleeps counts times the owner blocked after spinning.
	Sleeps uint64
	// Wakeups counts eventfd writes made by producers.
	Wakeups uint64
	// FileEvents counts file handlers run.
	FileEvents uint64
	// Completions counts completion-mode results handled.
	Completions uint64
	// WaitErrors counts driver Wait errors.
	WaitErrors uint64
	// Nudged counts parks (WaitPoller) that another worker ended because
	// the driver had events the runtime had not yet delivered (nudge.go).
	Nudged uint64
}

type stats struct {
	loops, sleeps, wakeups, fileEvents, completions, waitErrors, nudged atomic.Uint64
}

// Stats returns the loop counters. It may be called from any goroutine.
func (c *Center) Stats() Stats {
	return Stats{
		Loops:       c.st.loops.Load(),
		Sleeps:      c.st.sleeps.Load(),
		Wakeups:     c.st.wakeups.Load(),
		FileEvents:  c.st.fileEvents.Load(),
		Completions: c.st.completions.Load(),
		WaitErrors:  c.st.waitErrors.Load(),
		Nudged:      c.st.nudged.Load(),
	}
}

// worker registry for SubmitWait's deadlock check.
var (
	workersMu sync.RWMutex
	workers   = map[uintptr]int{}
)

func registerWorker(g uintptr) {
	workersMu.Lock()
	workers[g]++
	workersMu.Unlock()
}

func unregisterWorker(g uintptr) {
	workersMu.Lock()
	if workers[g]--; workers[g] <= 0 {
		delete(workers, g)
	}
	workersMu.Unlock()
}

func isWorker(g uintptr) bool {
	workersMu.RLock()
	defer workersMu.RUnlock()
	return workers[g] > 0
}

// parker parks the owner goroutine in the Go runtime poller on a duplicate
// of the driver's fd (WaitPoller).
type parker struct {
	c  *Center
	f  *os.File
	fd int // f's number, for a nudge's poll(2) (f.Fd would make f blocking)
	rc syscall.RawConn
	fn func(uintptr) bool
	n  int
	// mu orders the owner's deadline changes and a nudge's (nudge.go).
	mu     sync.Mutex
	dl     bool // a read deadline is set (under mu)
	nudged bool // a nudge set a past deadline (under mu)
	// parked is set (under mu) from the park's deadline until the park
	// ends: a nudge acts only then.
	parked atomic.Bool
}

func (p *parker) init(c *Center) error {
	pd, ok := c.drv.(driver.Pollable)
	if !ok {
		return fmt.Errorf("center %d: driver %s cannot be polled; use WaitThread", c.cfg.ID, c.drv.Name())
	}
	fd, err := dupNonblock(pd.Fd())
	if err != nil {
		return fmt.Errorf("center %d: dup driver fd: %w", c.cfg.ID, err)
	}
	p.f = os.NewFile(uintptr(fd), fmt.Sprintf("center-%d-%s", c.cfg.ID, c.drv.Name()))
	p.fd = fd
	p.rc, err = p.f.SyscallConn()
	if err != nil {
		cerr := p.f.Close()
		p.f = nil
		return errors.Join(fmt.Errorf("center %d: %w", c.cfg.ID, err), cerr)
	}
	p.c = c
	p.fn = p.check
	parkers.add(p)
	return nil
}

// check is called by the runtime poller's read loop: poll the driver without
// blocking and report whether there is anything to do.
//
// It must poll the driver on its first call: RawConn.Read resets the
// runtime's record of readiness before calling it, so an edge that came
// before the park is only seen by polling.
func (p *parker) check(uintptr) bool {
	p.n = p.c.poll(0)
	return p.n > 0 || p.c.cn > 0 || !p.c.ext.empty() || p.c.stop.Load()
}

func (p *parker) wait(timeout time.Duration) int {
	p.n = 0
	p.mu.Lock()
	err := p.setDeadline(timeout)
	p.nudged = false
	if err == nil {
		p.parked.Store(true)
		parkers.parked.Add(1)
	}
	p.mu.Unlock()
	if err != nil {
		// Parked without the deadline the owner could oversleep a timer;
		// with a stale one it would return before polling. Block in the
		// driver for this turn instead: the eventfd is one of its files,
		// so a post still wakes it.
		p.c.st.waitErrors.Add(1)
		p.c.cfg.Logger.Error("center: park deadline failed", "center", p.c.cfg.ID, "err", err)
		return p.c.poll(timeout)
	}
	err = p.rc.Read(p.fn)
	p.mu.Lock()
	p.parked.Store(false)
	parkers.parked.Add(-1)
	nudged := p.nudged
	p.mu.Unlock()
	switch {
	case nudged && p.n == 0:
		// Woken by a nudge because the driver has events: take them
		// now rather than in another turn.
		p.n = p.c.poll(0)
	case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
		p.c.st.waitErrors.Add(1)
		p.c.cfg.Logger.Error("center: park failed", "center", p.c.cfg.ID, "err", err)
	}
	return p.n
}

// setDeadline arms the park's read deadline for timeout, or clears the one
// left by an earlier park or a nudge; dl stays set until a clear succeeds.
// Called with mu held.
func (p *parker) setDeadline(timeout time.Duration) error {
	switch {
	case timeout > 0:
		p.dl = true
		return p.f.SetReadDeadline(time.Now().Add(timeout))
	case p.dl:
		if err := p.f.SetReadDeadline(time.Time{}); err != nil {
			return err
		}
		p.dl = false
	}
	return nil
}
