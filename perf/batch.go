package perf

import "math/bits"

// Batch gathers updates to a Counters on the one goroutine that owns it
// (an event-loop worker) as plain adds, and Flush publishes them with one
// atomic add per counter touched. An owner whose updates come in bursts,
// many messages in one loop turn, flushes once per burst; readers see the
// counts once Flush has run.
//
// A Batch is not safe for concurrent use. A nil *Batch ignores updates.
type Batch struct {
	w       *Counters
	v       [NumCounters]uint64
	touched uint64 // bit c: v[c] is not zero
}

// NewBatch returns a Batch that flushes into w.
func (w *Counters) NewBatch() *Batch { return &Batch{w: w} }

// Inc adds one to counter c at the next Flush.
func (b *Batch) Inc(c Counter) { b.Add(c, 1) }

// Add adds n to counter c at the next Flush.
func (b *Batch) Add(c Counter, n uint64) {
	if b != nil {
		b.v[c] += n
		b.touched |= 1 << c
	}
}

// Flush adds the gathered updates to the Counters and clears them.
func (b *Batch) Flush() {
	if b == nil {
		return
	}
	for t := b.touched; t != 0; t &= t - 1 {
		c := Counter(bits.TrailingZeros64(t))
		b.w.Add(c, b.v[c])
		b.v[c] = 0
	}
	b.touched = 0
}
