package perf

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// slot holds one counter. For KindTimeAvg, n and n2 bracket the update of v
// (the sum) so that a reader can take a consistent (count, sum) pair without
// a lock; Ceph's PerfCounters does the same with avgcount and avgcount2.
type slot struct {
	v  atomic.Uint64 // counter; gauge (two's complement); time or avg sum in ns
	n  atomic.Uint64 // avg count, bumped before v
	n2 atomic.Uint64 // avg count, bumped after v
}

// Counters is one worker's set of perf counters: Ceph's
// "AsyncMessenger::Worker-N" logger.
//
// The worker goroutine that owns a Counters is meant to be its only writer,
// so each update is an uncontended atomic add on a cache line no other
// worker writes, and never allocates. Updates from other goroutines are
// still correct (every update is an atomic add), only slower. Readers
// (Snapshot, a Set's dump, a Prometheus scrape) only load, at any time, from
// any goroutine, and never block the writer.
//
// The zero value is usable, with no histograms and ID 0; a Set's AddWorker
// gives a numbered Counters with histograms.
type Counters struct {
	_     cpu.CacheLinePad // keeps the neighbouring allocation off our lines
	slots [NumCounters]slot
	hist  [NumCounters]*Histogram // per KindTimeAvg counter, or nil
	id    int
	msgr  string
	_     cpu.CacheLinePad
}

// Inc adds one to counter c. For a gauge it is Ceph's inc. Every update
// method does nothing on a nil *Counters, so a messenger with counting off
// passes nil.
func (w *Counters) Inc(c Counter) {
	if w != nil {
		w.slots[c].v.Add(1)
	}
}

// Add adds n to counter c, e.g. Add(RecvBytes, uint64(len(b))).
func (w *Counters) Add(c Counter, n uint64) {
	if w != nil {
		w.slots[c].v.Add(n)
	}
}

// Dec subtracts one from gauge c (Ceph's dec), e.g. Dec(ActiveConnections)
// when a connection closes.
func (w *Counters) Dec(c Counter) {
	if w != nil {
		w.slots[c].v.Add(^uint64(0))
	}
}

// SetGauge sets gauge c to v (Ceph's set).
func (w *Counters) SetGauge(c Counter, v int64) {
	if w != nil {
		w.slots[c].v.Store(uint64(v))
	}
}

// AddTime adds d to counter c (Ceph's tinc). For a KindTime counter it adds
// to the sum; for a KindTimeAvg counter it records one observation: the
// count grows by one, the sum by d, and d goes into the counter's histogram
// if it has one. A negative d counts as zero.
func (w *Counters) AddTime(c Counter, d time.Duration) {
	if w == nil {
		return
	}
	if d < 0 {
		d = 0
	}
	s := &w.slots[c]
	if kinds[c] != KindTimeAvg {
		s.v.Add(uint64(d))
		return
	}
	// Order matters: n, then v, then n2. See readAvg.
	s.n.Add(1)
	s.v.Add(uint64(d))
	s.n2.Add(1)
	if h := w.hist[c]; h != nil {
		h.Record(d)
	}
}

// Since is AddTime(c, time.Since(start)).
func (w *Counters) Since(c Counter, start time.Time) { w.AddTime(c, time.Since(start)) }

// readAvg returns a consistent (count, sum) pair. The writer bumps n, adds
// to v, then bumps n2; all are sequentially consistent atomics (Go memory
// model). Reading n2, then v, then n: if both counts are equal to k, the k
// updates counted by n2 had finished before v was read, and an update k+1
// that had added to v before our load of v would have bumped n before that,
// so our later load of n would have seen k+1. So v is exactly the sum of k
// observations.
func (s *slot) readAvg() (count, sum uint64) {
	for i := 0; ; i++ {
		n2 := s.n2.Load()
		v := s.v.Load()
		n := s.n.Load()
		if n == n2 {
			return n, v
		}
		if i > 16 {
			runtime.Gosched() // the writer was preempted mid-update
		}
	}
}

// Snapshot returns the current values. Each counter is read atomically and
// an average's count and sum are consistent with each other; different
// counters may be from slightly different moments.
func (w *Counters) Snapshot() Snapshot {
	var s Snapshot
	for c := range w.slots {
		sl := &w.slots[c]
		if kinds[c] == KindTimeAvg {
			s.count[c], s.vals[c] = sl.readAvg()
		} else {
			s.vals[c] = sl.v.Load()
		}
	}
	return s
}

// ID returns the worker's number within its Set.
func (w *Counters) ID() int { return w.id }

// Messenger returns the name of the Set the worker belongs to.
func (w *Counters) Messenger() string { return w.msgr }

// LoggerName returns Ceph's logger name for the worker,
// "AsyncMessenger::Worker-N", the worker's key in a JSON dump.
func (w *Counters) LoggerName() string {
	return "AsyncMessenger::Worker-" + strconv.Itoa(w.id)
}

// Histogram returns the histogram behind KindTimeAvg counter c, or nil if c
// has none (not a latency, or histograms disabled).
func (w *Counters) Histogram(c Counter) *Histogram {
	if c >= NumCounters {
		return nil
	}
	return w.hist[c]
}

// ProfileLabels returns the pprof labels a worker goroutine runs under, so
// that a CPU profile splits time by worker: gomsgr.stack=<Set name>,
// gomsgr.worker=<ID>, the labels center.Stack gives its workers. Use it as
// pprof.Do(ctx, w.ProfileLabels(), loop) for a goroutine center did not
// start.
func (w *Counters) ProfileLabels() pprof.LabelSet {
	return pprof.Labels("gomsgr.stack", w.msgr, "gomsgr.worker", strconv.Itoa(w.id))
}

// Do runs f with the worker's ProfileLabels set on the calling goroutine.
func (w *Counters) Do(ctx context.Context, f func(context.Context)) {
	pprof.Do(ctx, w.ProfileLabels(), f)
}

// Avg is a latency average: Count observations summing to Sum.
type Avg struct {
	Count uint64
	Sum   time.Duration
}

// Mean returns Sum/Count, or zero if there were no observations.
func (a Avg) Mean() time.Duration {
	if a.Count == 0 {
		return 0
	}
	return a.Sum / time.Duration(a.Count)
}

// Snapshot is a copy of a worker's counters, or the sum of several workers'
// (see Add and Set.Total).
type Snapshot struct {
	vals  [NumCounters]uint64 // counter; gauge as two's complement; ns
	count [NumCounters]uint64 // KindTimeAvg only
}

// Get returns counter c's value. For a gauge prefer Gauge, for times Time,
// for averages Avg.
func (s Snapshot) Get(c Counter) uint64 { return s.vals[c] }

// Gauge returns gauge c's value.
func (s Snapshot) Gauge(c Counter) int64 { return int64(s.vals[c]) }

// Time returns a KindTime counter's sum, or a KindTimeAvg counter's sum.
func (s Snapshot) Time(c Counter) time.Duration { return time.Duration(s.vals[c]) }

// Avg returns a KindTimeAvg counter's count and sum.
func (s Snapshot) Avg(c Counter) Avg {
	return Avg{Count: s.count[c], Sum: time.Duration(s.vals[c])}
}

// Add adds o's values into s. Gauges add as signed values, so a connection
// opened on one worker and closed on another still sums to zero.
func (s *Snapshot) Add(o Snapshot) {
	for c := range s.vals {
		s.vals[c] += o.vals[c]
		s.count[c] += o.count[c]
	}
}
