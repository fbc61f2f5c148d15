package perf

import (
	"sort"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Set gathers the counters of one messenger's workers and throttles, as
// Ceph's PerfCountersCollection holds a daemon's loggers. Readers aggregate
// across its workers (Total, Histogram) and dump it (WriteJSON, or
// perf/promperf for Prometheus).
//
// Adding and listing members takes a lock; updating counters does not
// involve the Set at all.
type Set struct {
	name  string
	hist  bool
	hopts HistogramOptions

	mu        sync.Mutex
	workers   []*Counters
	throttles []*Throttle
}

// Option configures a Set.
type Option func(*Set)

// WithHistograms gives each worker's latency counters (KindTimeAvg) a
// Histogram with options o. A Set has histograms with
// DefaultHistogramOptions unless told otherwise.
func WithHistograms(o HistogramOptions) Option {
	return func(s *Set) { s.hist, s.hopts = true, o }
}

// WithoutHistograms keeps latency counters to Ceph's count and sum.
func WithoutHistograms() Option {
	return func(s *Set) { s.hist = false }
}

// NewSet returns an empty Set for the messenger named messenger (the
// "messenger" label in Prometheus, "gomsgr.stack" in pprof).
func NewSet(messenger string, opts ...Option) *Set {
	s := &Set{name: messenger, hist: true, hopts: DefaultHistogramOptions}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns the messenger name.
func (s *Set) Name() string { return s.name }

// AddWorker returns a new worker's Counters, numbered after the existing
// ones (from 0). Give it to the worker goroutine, its only writer.
func (s *Set) AddWorker() *Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addWorkerLocked()
}

// Worker returns the Counters of worker id (such as center.Worker.ID()),
// adding workers up to id if the Set has fewer. It panics if id < 0.
func (s *Set) Worker(id int) *Counters {
	if id < 0 {
		panic("perf: negative worker id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.workers) <= id {
		s.addWorkerLocked()
	}
	return s.workers[id]
}

func (s *Set) addWorkerLocked() *Counters {
	w := &Counters{msgr: s.name, id: len(s.workers)}
	if s.hist {
		for c := range NumCounters {
			if kinds[c] == KindTimeAvg {
				w.hist[c] = NewHistogram(s.hopts)
			}
		}
	}
	s.workers = append(s.workers, w)
	return w
}

// Workers returns the workers' Counters in ID order.
func (s *Set) Workers() []*Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Counters(nil), s.workers...)
}

// AddThrottle returns the counters of a new throttle named name with
// maximum max, dumped as "throttle-"+name.
func (s *Set) AddThrottle(name string, max int64) *Throttle {
	t := NewThrottle(name, max)
	s.mu.Lock()
	s.throttles = append(s.throttles, t)
	s.mu.Unlock()
	return t
}

// Throttles returns the throttles' counters sorted by name.
func (s *Set) Throttles() []*Throttle {
	s.mu.Lock()
	ts := append([]*Throttle(nil), s.throttles...)
	s.mu.Unlock()
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	return ts
}

// Total returns the sum of all workers' counters.
func (s *Set) Total() Snapshot {
	var t Snapshot
	for _, w := range s.Workers() {
		t.Add(w.Snapshot())
	}
	return t
}

// Histogram returns the merge of all workers' histograms for latency
// counter c, in nanoseconds, or nil if there are none.
func (s *Set) Histogram(c Counter) *hdrhistogram.Histogram {
	ws := s.Workers()
	hs := make([]*Histogram, 0, len(ws))
	for _, w := range ws {
		hs = append(hs, w.Histogram(c))
	}
	return MergeHistograms(hs...)
}

// Percentiles summarizes the merged histogram of latency counter c.
func (s *Set) Percentiles(c Counter) HistogramSnapshot { return SnapshotOf(s.Histogram(c)) }
