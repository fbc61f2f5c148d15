package simple

import (
	"sync"
	"time"

	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
)

// Throttle bounds an amount (bytes or messages) held by received messages
// that are queued or being dispatched (Ceph's Throttle). A connection's
// reader that finds no room waits in Get, before it reads the rest of the
// message, so TCP flow control pushes back on the sender: the blocking form
// of Ceph's SimpleMessenger Pipe, where conn stops reading and retries from
// a timer.
//
// Its lock is its counters' (perf.Throttle's), so that taking budget and
// counting it is one critical section.
type Throttle struct {
	cond sync.Cond // on b's lock
	b    msgrbase.Budget
}

func newThrottle(set *perf.Set, name string, max int64) *Throttle {
	if max <= 0 {
		return nil
	}
	t := &Throttle{b: msgrbase.NewBudget(set, name, max)}
	t.cond.L = t.b.Perf()
	return t
}

// get takes n, waiting while the throttle is full (an empty throttle lets a
// single item larger than max through, as in Ceph). It gives up, false,
// when c closes. A nil throttle always succeeds.
func (t *Throttle) get(n int64, c *Connection) bool {
	if t == nil {
		return true
	}
	var waited time.Time
	pt := t.b.Perf()
	pt.Lock()
	pt.RecordGetStarted()
	for !t.b.FitsLocked(n) {
		if c.state.Load() == stClosed {
			pt.Unlock()
			return false
		}
		if waited.IsZero() {
			waited = time.Now()
		}
		t.cond.Wait()
	}
	cur := t.b.TakeLocked(n)
	if !waited.IsZero() {
		pt.RecordWait(time.Since(waited))
	}
	pt.RecordGet(n, cur)
	pt.Unlock()
	return true
}

// put returns n and wakes the waiters.
func (t *Throttle) put(n int64) {
	if t == nil || n == 0 {
		return
	}
	t.b.Put(n)
	t.cond.Broadcast()
}

// wake makes waiters re-check their connection (it closed). Broadcasting
// under the lock orders it after a waiter's check and before its Wait.
func (t *Throttle) wake() {
	if t == nil {
		return
	}
	t.cond.L.Lock()
	t.cond.Broadcast()
	t.cond.L.Unlock()
}

// Current returns the amount taken.
func (t *Throttle) Current() int64 {
	if t == nil {
		return 0
	}
	return t.b.Current()
}

// Max returns the limit (0 for a nil Throttle: no limit).
func (t *Throttle) Max() int64 {
	if t == nil {
		return 0
	}
	return t.b.Max()
}

// throttles are a peer type's message and byte throttles (Policy's
// ThrottleMessages and ThrottleBytes; Ceph's policy throttlers).
type throttles = msgrbase.Throttles[*Throttle]

// held is the budget one received message holds until it is dispatched:
// one message and n bytes of its peer type's throttles, n bytes of the
// messenger's dispatch throttle.
type held struct {
	pol      throttles
	dispatch *Throttle
	n        int64
	taken    bool
}

// take takes the budget for a message of n payload bytes, in Ceph's order;
// false means c closed while waiting (nothing is held then).
func (h *held) take(pol throttles, dispatch *Throttle, n int64, c *Connection) bool {
	if !pol.Msgs.get(1, c) {
		return false
	}
	if !pol.Bytes.get(n, c) {
		pol.Msgs.put(1)
		return false
	}
	if !dispatch.get(n, c) {
		pol.Msgs.put(1)
		pol.Bytes.put(n)
		return false
	}
	*h = held{pol: pol, dispatch: dispatch, n: n, taken: true}
	return true
}

// release gives the budget back, once.
func (h *held) release() {
	if !h.taken {
		return
	}
	h.pol.Msgs.put(1)
	h.pol.Bytes.put(h.n)
	h.dispatch.put(h.n)
	*h = held{}
}

// DispatchThrottle returns the messenger-wide dispatch throttle
// (ms_dispatch_throttle_bytes; nil when disabled).
func (m *Messenger) DispatchThrottle() *Throttle { return m.dthr }
