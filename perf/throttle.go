package perf

import (
	"sync"
	"time"
)

// Throttle holds the perf counters of one throttle, Ceph's
// "throttle-<name>" logger (src/common/Throttle.cc). The throttle itself
// lives elsewhere (internal/msgrbase's Throttle, which both messengers
// use) and uses this Throttle's lock as its own:
// it updates its amount and calls the Record methods in one critical
// section, at the points where Ceph's Throttle updates its logger. The
// counters are then plain fields, and a get or put costs one lock and
// unlock, not an atomic add per counter. Readers (Snapshot, a Set's dump, a
// Prometheus scrape) take the lock too.
type Throttle struct {
	mu   sync.Mutex
	name string
	c    ThrottleSnapshot
}

// NewThrottle returns the counters of a throttle named name (logger
// "throttle-"+name) whose maximum is max. A Set's AddThrottle also lists it
// in the Set's dumps.
func NewThrottle(name string, max int64) *Throttle {
	t := &Throttle{name: name}
	t.c.Max = max
	return t
}

// Lock locks the throttle. The Record and Set methods must be called with
// it held; an owner holds it while it changes its own amount, so that the
// amount and the counters change together.
func (t *Throttle) Lock() { t.mu.Lock() }

// Unlock unlocks the throttle.
func (t *Throttle) Unlock() { t.mu.Unlock() }

// Name returns the throttle's name, without the "throttle-" prefix.
func (t *Throttle) Name() string { return t.name }

// LoggerName returns Ceph's logger name, "throttle-<name>".
func (t *Throttle) LoggerName() string { return "throttle-" + t.name }

// SetMax records a new maximum (Ceph: max, "Max value for throttle").
// Called with t locked.
func (t *Throttle) SetMax(max int64) { t.c.Max = max }

// SetVal records the amount currently taken (Ceph: val, "Currently
// available throttle"), e.g. after a reset. Called with t locked.
func (t *Throttle) SetVal(val int64) { t.c.Val = val }

// RecordGetStarted counts a get call before it may wait (Ceph:
// get_started). Called with t locked.
func (t *Throttle) RecordGetStarted() { t.c.GetStarted++ }

// RecordGet counts a get of n that succeeded, leaving val taken (Ceph: get,
// get_sum, val). Called with t locked.
func (t *Throttle) RecordGet(n, val int64) {
	t.c.Get++
	t.c.GetSum += uint64(n)
	t.c.Val = val
}

// RecordGetOrFail counts a get_or_fail of n: if it failed only
// get_or_fail_fail grows; if it succeeded get_or_fail_success, get and
// get_sum grow and val is recorded, as in Ceph. Called with t locked.
func (t *Throttle) RecordGetOrFail(ok bool, n, val int64) {
	if !ok {
		t.c.GetOrFailFail++
		return
	}
	t.c.GetOrFailSuccess++
	t.RecordGet(n, val)
}

// RecordTake counts a take of n, which never waits (Ceph: take, take_sum,
// val). Called with t locked.
func (t *Throttle) RecordTake(n, val int64) {
	t.c.Take++
	t.c.TakeSum += uint64(n)
	t.c.Val = val
}

// RecordPut counts a put of n (Ceph: put, put_sum, val). Called with t
// locked.
func (t *Throttle) RecordPut(n, val int64) {
	t.c.Put++
	t.c.PutSum += uint64(n)
	t.c.Val = val
}

// RecordWait records that a get waited d for room (Ceph: wait, an average,
// "Waiting latency"). Called with t locked.
func (t *Throttle) RecordWait(d time.Duration) {
	t.c.Wait.Count++
	t.c.Wait.Sum += max(d, 0)
}

// ThrottleSnapshot is a copy of a Throttle's counters, with Ceph's names in
// the field comments.
type ThrottleSnapshot struct {
	Val              int64  // val
	Max              int64  // max
	GetStarted       uint64 // get_started
	Get              uint64 // get
	GetSum           uint64 // get_sum
	GetOrFailFail    uint64 // get_or_fail_fail
	GetOrFailSuccess uint64 // get_or_fail_success
	Take             uint64 // take
	TakeSum          uint64 // take_sum
	Put              uint64 // put
	PutSum           uint64 // put_sum
	Wait             Avg    // wait
}

// Snapshot returns the throttle's current counters. It takes the lock, so
// it must not be called with t locked.
func (t *Throttle) Snapshot() ThrottleSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c
}
