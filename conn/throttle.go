package conn

import (
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
	max  int64
	cur  int64 // under perf's lock
	perf *perf.Throttle
}

func newThrottle(set *perf.Set, name string, max int64) *Throttle {
	if max <= 0 {
		return nil
	}
	return &Throttle{max: max, perf: set.AddThrottle(name, max)}
}

// TryGet takes n if the throttle has room (or is empty, so that a single
// item larger than max still passes alone, as in Ceph). A nil throttle
// always succeeds.
func (t *Throttle) TryGet(n int64) bool {
	if t == nil {
		return true
	}
	t.perf.Lock()
	ok := t.cur == 0 || t.cur+n <= t.max
	if ok {
		t.cur += n
	}
	t.perf.RecordGetOrFail(ok, n, t.cur)
	t.perf.Unlock()
	return ok
}

// Put returns n.
func (t *Throttle) Put(n int64) {
	if t == nil || n == 0 {
		return
	}
	t.perf.Lock()
	t.cur = max(t.cur-n, 0)
	t.perf.RecordPut(n, t.cur)
	t.perf.Unlock()
}

// Current returns the amount taken.
func (t *Throttle) Current() int64 {
	if t == nil {
		return 0
	}
	t.perf.Lock()
	defer t.perf.Unlock()
	return t.cur
}

// Max returns the limit.
func (t *Throttle) Max() int64 {
	if t == nil {
		return 0
	}
	return t.max
}

// throttles is the budget a received message holds: the peer type's message
// and byte throttles and the messenger's dispatch throttle.
type throttles struct {
	msgs, bytes *Throttle
}

// held records what one message took, to give back after dispatch.
type held struct {
	msgs, bytes, dispatch int64
}
