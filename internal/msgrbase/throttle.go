package msgrbase

import (
	"sync"
	"time"

	"github.com/gomsgr/gomsgr/perf"
)

// Throttle bounds an amount (bytes or messages) held by received messages
// that are queued or being dispatched (Ceph's Throttle). Both messengers
// take budget at a MESSAGE frame's preamble, before the rest of the frame
// is read, so that a full throttle stops reading and TCP flow control
// pushes back on the sender. The event loop cannot wait: it takes budget
// with TryGet and retries from a timer. A goroutine per connection waits
// in Get.
//
// An empty throttle lets one item larger than the limit through alone, as
// in Ceph, so that a message bigger than the throttle does not stall
// forever. Its lock is its counters' (perf.Throttle's): taking budget and
// counting it is one critical section. A nil *Throttle is no limit.
//
// A throttle with a share (WithShare) also bounds what one item may take
// while others hold budget: an item larger than the share goes only when
// the throttle holds nothing at all, alone, as an oversized one does. One
// connection therefore cannot take more than the share while anyone else
// needs the throttle, and a message larger than the share is still
// received once the throttle drains (docs/ARCHITECTURE.md, "Hostile
// peers").
type Throttle struct {
	max   int64
	share int64          // 0: no share rule
	cur   int64          // under perf's lock
	perf  *perf.Throttle // its counters, and the lock
	cond  sync.Cond      // Get waits on it, over perf's lock
}

// NewThrottle returns a throttle of max registered in set as name (Ceph's
// `throttle-<name>` in perf dump), or nil (no limit) when max <= 0.
func NewThrottle(set *perf.Set, name string, max int64) *Throttle {
	if max <= 0 {
		return nil
	}
	t := &Throttle{max: max, perf: set.AddThrottle(name, max)}
	t.cond.L = t.perf
	return t
}

// WithShare sets the share of t, frac × its limit (at least 1), and
// returns t. A frac outside (0, 1) sets none (Ceph's rule alone). Call it
// before t is used.
func (t *Throttle) WithShare(frac float64) *Throttle {
	if t != nil && frac > 0 && frac < 1 {
		t.share = max(int64(frac*float64(t.max)), 1)
	}
	return t
}

// Share returns the share (0: none).
func (t *Throttle) Share() int64 {
	if t == nil {
		return 0
	}
	return t.share
}

// fitsLocked reports whether n may be taken now: an empty throttle takes
// anything, alone; otherwise n must fit under the limit and, with a share,
// be no larger than it.
func (t *Throttle) fitsLocked(n int64) bool {
	return t.cur == 0 || (t.cur+n <= t.max && (t.share == 0 || n <= t.share))
}

// TryGet takes n if it fits and counts the attempt (Ceph's get_or_fail).
func (t *Throttle) TryGet(n int64) bool {
	if t == nil {
		return true
	}
	t.perf.Lock()
	ok := t.fitsLocked(n)
	if ok {
		t.cur += n
	}
	t.perf.RecordGetOrFail(ok, n, t.cur)
	t.perf.Unlock()
	return ok
}

// Get takes n, waiting while the throttle is full. It gives up, false,
// when stop reports true; whoever makes stop true calls Wake.
func (t *Throttle) Get(n int64, stop func() bool) bool {
	if t == nil {
		return true
	}
	var waited time.Time
	t.perf.Lock()
	t.perf.RecordGetStarted()
	for !t.fitsLocked(n) {
		if stop() {
			t.perf.Unlock()
			return false
		}
		if waited.IsZero() {
			waited = time.Now()
		}
		t.cond.Wait()
	}
	t.cur += n
	if !waited.IsZero() {
		t.perf.RecordWait(time.Since(waited))
	}
	t.perf.RecordGet(n, t.cur)
	t.perf.Unlock()
	return true
}

// Put gives n back, counts it and wakes the waiters.
func (t *Throttle) Put(n int64) {
	if t == nil || n == 0 {
		return
	}
	t.perf.Lock()
	t.cur = max(t.cur-n, 0)
	t.perf.RecordPut(n, t.cur)
	t.perf.Unlock()
	t.cond.Broadcast()
}

// Wake makes the waiters in Get check their stop function again.
// Broadcasting under the lock orders it after a waiter's check and before
// its Wait.
func (t *Throttle) Wake() {
	if t == nil {
		return
	}
	t.perf.Lock()
	t.cond.Broadcast()
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

// Max returns the limit (0 for a nil Throttle: no limit).
func (t *Throttle) Max() int64 {
	if t == nil {
		return 0
	}
	return t.max
}

// Held is the budget one received message holds until it is dispatched:
// one message and n bytes of its peer type's throttles, n bytes of the
// messenger's dispatch throttle. The zero Held holds nothing.
type Held struct {
	pol      Throttles
	dispatch *Throttle
	n        int64
	taken    bool
}

// Taken reports whether h holds budget.
func (h *Held) Taken() bool { return h.taken }

// TryTake takes the budget for a message of n payload bytes without
// waiting, all or nothing, in Ceph's order.
func (h *Held) TryTake(pol Throttles, dispatch *Throttle, n int64) bool {
	if !pol.Msgs.TryGet(1) {
		return false
	}
	if !pol.Bytes.TryGet(n) {
		pol.Msgs.Put(1)
		return false
	}
	if !dispatch.TryGet(n) {
		pol.Msgs.Put(1)
		pol.Bytes.Put(n)
		return false
	}
	*h = Held{pol: pol, dispatch: dispatch, n: n, taken: true}
	return true
}

// Take is TryTake that waits for budget; false means stop became true
// while it waited (nothing is held then).
func (h *Held) Take(pol Throttles, dispatch *Throttle, n int64, stop func() bool) bool {
	if !pol.Msgs.Get(1, stop) {
		return false
	}
	if !pol.Bytes.Get(n, stop) {
		pol.Msgs.Put(1)
		return false
	}
	if !dispatch.Get(n, stop) {
		pol.Msgs.Put(1)
		pol.Bytes.Put(n)
		return false
	}
	*h = Held{pol: pol, dispatch: dispatch, n: n, taken: true}
	return true
}

// Move returns the budget h holds and leaves h empty: the message that
// the frame became takes it over.
func (h *Held) Move() Held {
	out := *h
	*h = Held{}
	return out
}

// Release gives the budget back, once.
func (h *Held) Release() {
	if !h.taken {
		return
	}
	h.pol.Msgs.Put(1)
	h.pol.Bytes.Put(h.n)
	h.dispatch.Put(h.n)
	*h = Held{}
}
