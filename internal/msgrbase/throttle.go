package msgrbase

import "github.com/gomsgr/gomsgr/perf"

// Budget is the count and limit of a receive throttle (Ceph's Throttle
// count and max), kept in one critical section with its counters: its lock
// is its perf.Throttle's. conn's throttle takes budget without waiting
// (TryGet), simple's waits for it on a sync.Cond over the same lock; both
// give it back with Put.
//
// An empty budget lets one item larger than the limit through alone, as in
// Ceph, so that a message bigger than the throttle does not stall forever.
type Budget struct {
	max  int64
	cur  int64          // under perf's lock
	perf *perf.Throttle // its counters, and the lock
}

// NewBudget returns a budget of max registered in set as name (Ceph's
// `throttle-<name>` in perf dump).
func NewBudget(set *perf.Set, name string, max int64) Budget {
	return Budget{max: max, perf: set.AddThrottle(name, max)}
}

// Perf returns the budget's counters; their lock is the budget's.
func (b *Budget) Perf() *perf.Throttle { return b.perf }

// FitsLocked reports whether n can be taken now. Caller holds the lock.
func (b *Budget) FitsLocked(n int64) bool { return b.cur == 0 || b.cur+n <= b.max }

// TakeLocked takes n, which fits, and returns the new count. Caller holds
// the lock and counts the get.
func (b *Budget) TakeLocked(n int64) int64 {
	b.cur += n
	return b.cur
}

// TryGet takes n if it fits and counts the attempt (Ceph's get_or_fail).
func (b *Budget) TryGet(n int64) bool {
	b.perf.Lock()
	ok := b.FitsLocked(n)
	if ok {
		b.cur += n
	}
	b.perf.RecordGetOrFail(ok, n, b.cur)
	b.perf.Unlock()
	return ok
}

// Put gives n back and counts it.
func (b *Budget) Put(n int64) {
	b.perf.Lock()
	b.cur = max(b.cur-n, 0)
	b.perf.RecordPut(n, b.cur)
	b.perf.Unlock()
}

// Current returns the amount taken.
func (b *Budget) Current() int64 {
	b.perf.Lock()
	defer b.perf.Unlock()
	return b.cur
}

// Max returns the limit.
func (b *Budget) Max() int64 { return b.max }
