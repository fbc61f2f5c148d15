package center

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// Nudging parked workers (docs/ARCHITECTURE.md, "Parked workers are nudged").
//
// A WaitPoller worker parks in the Go runtime's network poller, and the
// runtime looks at that poller only when a P finds nothing else to run,
// or from sysmon when nobody has for 10 ms. While a busy worker keeps
// every P busy (with or without other goroutines waiting), a parked worker
// whose fd is ready waits for sysmon: all the messages of that worker's
// connections stall at once (bench/RESULTS.md, "Parked poller workers
// nudged"). So a busy worker, after each busy turn, looks at the parked
// workers' fds (one poll(2) over all of them, at most once per
// nudgeEveryNs in the whole process, and never while none is parked) and
// wakes those with events through their park's read deadline: a deadline
// in the past readies the parked goroutine at once, and the busy worker's
// next yield check finds it waiting.

// nudgeEveryNs spaces the process's looks at the parked workers: a parked
// worker with events waits at most about this long (plus the yield
// check's spacing) while the Ps are busy. One cadence for all busy
// workers keeps the cost flat on a machine with many of them.
const nudgeEveryNs = int64(200 * time.Microsecond)

// aLongTimeAgo is the deadline of a nudge: any time in the past.
var aLongTimeAgo = time.Unix(1, 0)

// parkers is the process's registry of WaitPoller workers.
var parkers parkRegistry

type parkRegistry struct {
	// last is the clock (Nanotime) of the last look: read after every busy
	// turn of every worker, written every nudgeEveryNs, so it has a cache
	// line of its own, apart from parked, which every park writes.
	last   atomic.Int64
	_      cpu.CacheLinePad
	parked atomic.Int32 // workers parked now
	_      cpu.CacheLinePad
	mu     sync.Mutex
	ps     []*parker
	fds    []pollFd  // scratch for nudge, as long as ps
	which  []*parker // the parker of each fds entry
}

// add registers p (after its init).
func (r *parkRegistry) add(p *parker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ps = append(r.ps, p)
	r.fds = make([]pollFd, 0, len(r.ps))
	r.which = make([]*parker, 0, len(r.ps))
}

// remove unregisters p; its fd may be closed afterwards (nudge polls the
// fds under mu).
func (r *parkRegistry) remove(p *parker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.ps, p); i >= 0 {
		r.ps = slices.Delete(r.ps, i, i+1)
	}
}

// nudge wakes the parked workers whose driver has events, unless the
// process looked less than nudgeEveryNs before now (Nanotime) or another
// worker is looking. It allocates nothing.
func (r *parkRegistry) nudge(now int64) {
	last := r.last.Load()
	if now-last < nudgeEveryNs || !r.last.CompareAndSwap(last, now) || r.parked.Load() == 0 {
		return
	}
	if !r.mu.TryLock() {
		return // being removed from, or added to: the next look will do
	}
	defer r.mu.Unlock()
	fds, which := r.fds[:0], r.which[:0]
	for _, p := range r.ps {
		if p.parked.Load() {
			fds = append(fds, pollFd{Fd: int32(p.fd), Events: pollIn})
			which = append(which, p)
		}
	}
	if len(fds) == 0 {
		return
	}
	if pollNow(fds) {
		for i := range fds {
			if fds[i].Revents != 0 { // POLLIN, or an error the owner will see
				which[i].nudge()
			}
		}
	}
	clear(which) // the parkers are not kept alive by the scratch
}

// nudge ends p's park if it is still parked: its deadline moves to the
// past, which the runtime handles at once (the goroutine is readied), and
// the owner clears it before it parks again.
func (p *parker) nudge() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.parked.Load() {
		return
	}
	p.dl, p.nudged = true, true
	p.c.st.nudged.Add(1)
	_ = p.f.SetReadDeadline(aLongTimeAgo) // an error means f is closing: the park ends anyway
}
