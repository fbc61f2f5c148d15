package conn

import (
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// Throttle bounds an amount (bytes or messages) held by received messages
// that are queued or being dispatched (Ceph's Throttle, non-blocking form).
// A connection that cannot get budget stops reading its socket, so TCP flow
// control pushes back on the sender, and retries from a timer.
//
// Its lock is its counters' (perf.Throttle's): taking budget and counting it
// is one critical section.
type Throttle struct {
	b msgrbase.Budget
}

func newThrottle(set *perf.Set, name string, max int64) *Throttle {
	if max <= 0 {
		return nil
	}
	return &Throttle{b: msgrbase.NewBudget(set, name, max)}
}

// TryGet takes n if the throttle has room (or is empty, so that a single
// item larger than max still passes alone, as in Ceph). A nil throttle
// always succeeds.
func (t *Throttle) TryGet(n int64) bool {
	if t == nil {
		return true
	}
	return t.b.TryGet(n)
}

// Put returns n.
func (t *Throttle) Put(n int64) {
	if t == nil || n == 0 {
		return
	}
	t.b.Put(n)
}

// Current returns the amount taken.
func (t *Throttle) Current() int64 {
	if t == nil {
		return 0
	}
	return t.b.Current()
}

// Max returns the limit.
func (t *Throttle) Max() int64 {
	if t == nil {
		return 0
	}
	return t.b.Max()
}

// throttles is the budget a received message holds: the peer type's message
// and byte throttles.
type throttles = msgrbase.Throttles[*Throttle]

// held records what one message took, to give back after dispatch.
type held struct {
	msgs, bytes, dispatch int64
}
