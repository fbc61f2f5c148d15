package perf

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestHistogramLayoutMatchesHdr records the same values into a Histogram and
// into hdrhistogram-go's own, and compares every bucket: the atomic buckets
// must use exactly hdrhistogram's layout for Hdr's import to be right.
func TestHistogramLayoutMatchesHdr(t *testing.T) {
	for _, o := range []HistogramOptions{
		DefaultHistogramOptions,
		{Lowest: 1, Highest: time.Minute, Digits: 3},
		{Lowest: time.Microsecond, Highest: time.Hour, Digits: 3},
		{Lowest: 1000, Highest: 10 * time.Second, Digits: 1},
		{Lowest: 1, Highest: 10 * time.Millisecond, Digits: 5},
		{Lowest: 7, Highest: 3 * time.Millisecond, Digits: 4},
	} {
		h := NewHistogram(o)
		ref := hdrhistogram.New(int64(o.Lowest), int64(o.Highest), o.Digits)
		rng := rand.New(rand.NewPCG(1, uint64(o.Digits)))
		values := []int64{0, 1, 2, int64(o.Lowest), int64(o.Highest), int64(o.Highest) - 1}
		for range 5000 {
			// Log-uniform over the range so every bucket gets some.
			values = append(values, int64(float64(o.Highest)*rng.Float64()*rng.Float64()*rng.Float64()))
		}
		for _, v := range values {
			h.Record(time.Duration(v))
			if err := ref.RecordValue(v); err != nil {
				t.Fatalf("%+v: reference rejected %d: %v", o, v, err)
			}
		}
		got, want := h.Hdr().Export().Counts, ref.Export().Counts
		if len(h.counts) != len(want) {
			t.Fatalf("%+v: %d buckets, hdrhistogram has %d", o, len(h.counts), len(want))
		}
		if !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v: bucket %d = %d, hdrhistogram has %d", o, i, got[i], want[i])
				}
			}
		}
		if g, w := SnapshotOf(h.Hdr()), SnapshotOf(ref); g != w {
			t.Errorf("%+v: snapshot %+v, hdrhistogram gives %+v", o, g, w)
		}
	}
}

func TestHistogramClampsAndSaturates(t *testing.T) {
	h := NewHistogram(HistogramOptions{Lowest: -5, Highest: 0, Digits: 9})
	if o := h.Options(); o.Lowest != 1 || o.Highest != 2 || o.Digits != 5 {
		t.Errorf("clamped options = %+v", o)
	}
	h = NewHistogram(HistogramOptions{Lowest: 1, Highest: time.Second, Digits: 2})
	h.Record(-time.Second)
	h.Record(time.Hour)
	s := h.Snapshot()
	if s.Count != 2 || s.Min != 0 || s.Max < 990*time.Millisecond || s.Max > 1010*time.Millisecond {
		t.Errorf("snapshot = %+v, want a 0 and a saturated ≈1s", s)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram(HistogramOptions{Lowest: 1, Highest: time.Minute, Digits: 3})
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	s := h.Snapshot()
	near := func(name string, got, want time.Duration) {
		if d := got - want; d < -want/500 || d > want/500 {
			t.Errorf("%s = %v, want ≈%v", name, got, want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count = %d", s.Count)
	}
	near("p50", s.P50, 500*time.Microsecond)
	near("p90", s.P90, 900*time.Microsecond)
	near("p99", s.P99, 990*time.Microsecond)
	near("p999", s.P999, 999*time.Microsecond)
	near("max", s.Max, 1000*time.Microsecond)
	near("min", s.Min, time.Microsecond)
	near("mean", s.Mean, 500500*time.Nanosecond)
}

func TestMergeHistograms(t *testing.T) {
	a := NewHistogram(DefaultHistogramOptions)
	b := NewHistogram(DefaultHistogramOptions)
	c := NewHistogram(HistogramOptions{Lowest: time.Microsecond, Highest: time.Hour, Digits: 3})
	a.Record(time.Millisecond)
	b.Record(2 * time.Millisecond)
	c.Record(3 * time.Millisecond)
	if MergeHistograms() != nil || MergeHistograms(nil) != nil {
		t.Error("merge of nothing is not nil")
	}
	m := MergeHistograms(nil, a, b, c)
	if m.TotalCount() != 3 {
		t.Fatalf("merged count = %d, want 3", m.TotalCount())
	}
	if s := SnapshotOf(m); s.Min < 990*time.Microsecond || s.Max < 2970*time.Microsecond || s.Max > 3030*time.Microsecond { // 2 digits: within 1%
		t.Errorf("merged = %+v, want 1ms..3ms", s)
	}
	if got := a.Snapshot().Count; got != 1 {
		t.Errorf("merge changed a source: count %d", got)
	}
}

// TestHistogramConcurrentRead records on one goroutine per histogram while
// a reader merges, for -race.
func TestHistogramConcurrentRead(t *testing.T) {
	hs := []*Histogram{NewHistogram(DefaultHistogramOptions), NewHistogram(DefaultHistogramOptions)}
	const n = 20000
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				h.Record(time.Duration(i))
			}
		}()
	}
	stop := make(chan struct{})
	read := make(chan int64)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				read <- last
				return
			default:
			}
			c := MergeHistograms(hs...).TotalCount()
			if c < last {
				read <- -1
				return
			}
			last = c
		}
	}()
	wg.Wait()
	close(stop)
	if got := <-read; got < 0 {
		t.Fatal("merged count went down")
	}
	if got := MergeHistograms(hs...).TotalCount(); got != 2*n {
		t.Errorf("count = %d, want %d", got, 2*n)
	}
}
