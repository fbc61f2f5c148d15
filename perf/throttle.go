package perf

import (
	"sync/atomic"
	"time"
)

// Throttle holds the perf counters of one throttle, Ceph's
// "throttle-<name>" logger (src/common/Throttle.cc). The throttle itself
// lives elsewhere (conn/); it calls the Record methods at the points where
// Ceph's Throttle updates its logger. Any goroutine may call them: each
// update is atomic, and a throttle is usually updated under its own lock.
type Throttle struct {
	name       string
	val, max   atomic.Int64
	getStarted atomic.Uint64
	get        atomic.Uint64
	getSum     atomic.Uint64
	gofFail    atomic.Uint64
	gofSuccess atomic.Uint64
	take       atomic.Uint64
	takeSum    atomic.Uint64
	put        atomic.Uint64
	putSum     atomic.Uint64
	wait       slot
}

// NewThrottle returns the counters of a throttle named name (logger
// "throttle-"+name) whose maximum is max. A Set's AddThrottle also lists it
// in the Set's dumps.
func NewThrottle(name string, max int64) *Throttle {
	t := &Throttle{name: name}
	t.max.Store(max)
	return t
}

// Name returns the throttle's name, without the "throttle-" prefix.
func (t *Throttle) Name() string { return t.name }

// LoggerName returns Ceph's logger name, "throttle-<name>".
func (t *Throttle) LoggerName() string { return "throttle-" + t.name }

// SetMax records a new maximum (Ceph: max, "Max value for throttle").
func (t *Throttle) SetMax(max int64) { t.max.Store(max) }

// SetVal records the amount currently taken (Ceph: val, "Currently
// available throttle"), e.g. after a reset.
func (t *Throttle) SetVal(val int64) { t.val.Store(val) }

// RecordGetStarted counts a get call before it may wait (Ceph: get_started).
func (t *Throttle) RecordGetStarted() { t.getStarted.Add(1) }

// RecordGet counts a get of n that succeeded, leaving val taken (Ceph: get,
// get_sum, val).
func (t *Throttle) RecordGet(n, val int64) {
	t.get.Add(1)
	t.getSum.Add(uint64(n))
	t.val.Store(val)
}

// RecordGetOrFail counts a get_or_fail of n: if it failed only
// get_or_fail_fail grows; if it succeeded get_or_fail_success, get and
// get_sum grow and val is recorded, as in Ceph.
func (t *Throttle) RecordGetOrFail(ok bool, n, val int64) {
	if !ok {
		t.gofFail.Add(1)
		return
	}
	t.gofSuccess.Add(1)
	t.RecordGet(n, val)
}

// RecordTake counts a take of n, which never waits (Ceph: take, take_sum,
// val).
func (t *Throttle) RecordTake(n, val int64) {
	t.take.Add(1)
	t.takeSum.Add(uint64(n))
	t.val.Store(val)
}

// RecordPut counts a put of n (Ceph: put, put_sum, val).
func (t *Throttle) RecordPut(n, val int64) {
	t.put.Add(1)
	t.putSum.Add(uint64(n))
	t.val.Store(val)
}

// RecordWait records that a get waited d for room (Ceph: wait, an average,
// "Waiting latency").
func (t *Throttle) RecordWait(d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.wait.n.Add(1)
	t.wait.v.Add(uint64(d))
	t.wait.n2.Add(1)
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

// Snapshot returns the throttle's current counters.
func (t *Throttle) Snapshot() ThrottleSnapshot {
	n, sum := t.wait.readAvg()
	return ThrottleSnapshot{
		Val:              t.val.Load(),
		Max:              t.max.Load(),
		GetStarted:       t.getStarted.Load(),
		Get:              t.get.Load(),
		GetSum:           t.getSum.Load(),
		GetOrFailFail:    t.gofFail.Load(),
		GetOrFailSuccess: t.gofSuccess.Load(),
		Take:             t.take.Load(),
		TakeSum:          t.takeSum.Load(),
		Put:              t.put.Load(),
		PutSum:           t.putSum.Load(),
		Wait:             Avg{Count: n, Sum: time.Duration(sum)},
	}
}
