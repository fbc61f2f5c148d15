package perf

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HistogramOptions sets a Histogram's range and precision, as
// hdrhistogram.New's arguments, in durations.
type HistogramOptions struct {
	// Lowest is the lowest discernible value; below 1ns counts as 1ns.
	Lowest time.Duration
	// Highest is the highest trackable value. Larger values are recorded as
	// Highest (they saturate) rather than dropped.
	Highest time.Duration
	// Digits is the number of significant decimal digits kept, 1 to 5.
	// Two digits keep every value within 1%.
	Digits int
}

// DefaultHistogramOptions track 1ns to 1min within 1%: about 30 KiB of
// buckets per histogram.
var DefaultHistogramOptions = HistogramOptions{Lowest: time.Nanosecond, Highest: time.Minute, Digits: 2}

// Histogram is a latency histogram with HdrHistogram's bucket layout whose
// buckets are atomic counters. Like Counters, it has one writer, the owner
// worker, which records without locks or allocation; readers copy the
// buckets into an hdrhistogram.Histogram (Hdr, MergeHistograms) at any time.
// A reader may see a record that is in progress in one bucket and not yet in
// another; every bucket is read atomically.
type Histogram struct {
	opts    HistogramOptions
	unitMag uint   // log2 of the unit (lowest discernible value)
	halfMag uint   // log2 of half the sub-bucket count
	half    int    // half the sub-bucket count
	mask    uint64 // (sub-bucket count - 1) << unitMag
	highest int64
	counts  []atomic.Int64 // hdrhistogram's counts layout
}

// NewHistogram returns an empty histogram. Out-of-range options are clamped
// as hdrhistogram.New clamps them; a Highest below 2×Lowest is raised to it.
// It panics, as hdrhistogram.New does, if Lowest is too large for Digits.
func NewHistogram(o HistogramOptions) *Histogram {
	if o.Lowest < 1 {
		o.Lowest = 1
	}
	if o.Highest < 2*o.Lowest {
		o.Highest = 2 * o.Lowest
	}
	o.Digits = min(max(o.Digits, 1), 5)
	// The geometry follows the HdrHistogram algorithm (and hdrhistogram-go's
	// New exactly, which TestHistogramLayoutMatchesHdr checks): unit-resolution
	// sub-buckets up to 2×10^Digits, then one bucket per power of two.
	subMag := uint(math.Ceil(math.Log2(2 * math.Pow10(o.Digits))))
	halfMag := subMag - 1
	unitMag := uint(math.Floor(math.Log2(float64(o.Lowest))))
	if unitMag+halfMag > 61 {
		panic("perf: histogram Lowest too large for Digits")
	}
	subCount := int64(1) << subMag
	buckets := 1
	for untrackable := subCount << unitMag; untrackable <= int64(o.Highest); untrackable <<= 1 {
		if untrackable > math.MaxInt64/2 {
			buckets++
			break
		}
		buckets++
	}
	h := &Histogram{
		opts:    o,
		unitMag: unitMag,
		halfMag: halfMag,
		half:    int(subCount / 2),
		mask:    uint64(subCount-1) << unitMag,
		highest: int64(o.Highest),
	}
	h.counts = make([]atomic.Int64, (buckets+1)*h.half)
	return h
}

// Options returns the histogram's options after clamping.
func (h *Histogram) Options() HistogramOptions { return h.opts }

// index is hdrhistogram's countsIndexFor: the bucket is how many powers of
// two v lies above the first bucket's range, the sub-bucket is v in that
// bucket's unit.
func (h *Histogram) index(v int64) int {
	bucket := uint(64-bits.LeadingZeros64(uint64(v)|h.mask)) - h.unitMag - (h.halfMag + 1)
	sub := int(v >> (bucket + h.unitMag))
	return int(bucket+1)<<h.halfMag + sub - h.half
}

// Record adds one observation of d. Negative durations count as zero, ones
// above Highest as Highest.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	} else if v > h.highest {
		v = h.highest
	}
	h.counts[h.index(v)].Add(1)
}

// addTo adds the bucket counts to dst, which has the same layout.
func (h *Histogram) addTo(dst []int64) {
	for i := range h.counts {
		dst[i] += h.counts[i].Load()
	}
}

// snapshot returns an hdrhistogram snapshot of the given counts.
func (h *Histogram) snapshot(counts []int64) *hdrhistogram.Snapshot {
	return &hdrhistogram.Snapshot{
		LowestTrackableValue:  int64(h.opts.Lowest),
		HighestTrackableValue: int64(h.opts.Highest),
		SignificantFigures:    int64(h.opts.Digits),
		Counts:                counts,
	}
}

// Hdr returns a copy of the histogram as an hdrhistogram.Histogram, in
// nanoseconds, for percentiles, merging or encoding.
func (h *Histogram) Hdr() *hdrhistogram.Histogram {
	counts := make([]int64, len(h.counts))
	h.addTo(counts)
	return hdrhistogram.Import(h.snapshot(counts))
}

// Snapshot returns the histogram's count and percentiles.
func (h *Histogram) Snapshot() HistogramSnapshot { return SnapshotOf(h.Hdr()) }

// MergeHistograms returns the sum of hs (nil entries skipped) as an
// hdrhistogram.Histogram in nanoseconds, or nil if there is none. Histograms
// with the same options, as all of one Set's are, are summed bucket by
// bucket; others are merged with hdrhistogram's Merge.
func MergeHistograms(hs ...*Histogram) *hdrhistogram.Histogram {
	var first *Histogram
	var counts []int64
	var other []*Histogram
	for _, h := range hs {
		switch {
		case h == nil:
		case first == nil:
			first = h
			counts = make([]int64, len(h.counts))
			h.addTo(counts)
		case h.opts == first.opts:
			h.addTo(counts)
		default:
			other = append(other, h)
		}
	}
	if first == nil {
		return nil
	}
	merged := hdrhistogram.Import(first.snapshot(counts))
	for _, h := range other {
		merged.Merge(h.Hdr())
	}
	return merged
}

// HistogramSnapshot is a latency distribution summary.
type HistogramSnapshot struct {
	Count int64
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// SnapshotOf summarizes an hdrhistogram.Histogram of nanoseconds, such as
// Histogram.Hdr or MergeHistograms returns. A nil or empty one gives zeros.
func SnapshotOf(h *hdrhistogram.Histogram) HistogramSnapshot {
	if h == nil || h.TotalCount() == 0 {
		return HistogramSnapshot{}
	}
	p := h.ValueAtPercentiles([]float64{50, 90, 99, 99.9})
	return HistogramSnapshot{
		Count: h.TotalCount(),
		Min:   time.Duration(h.Min()),
		Mean:  time.Duration(h.Mean()),
		P50:   time.Duration(p[50]),
		P90:   time.Duration(p[90]),
		P99:   time.Duration(p[99]),
		P999:  time.Duration(p[99.9]),
		Max:   time.Duration(h.Max()),
	}
}
