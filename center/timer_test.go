package center

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// TestTimerNeverEarlyAlwaysFires arms timers with random delays and checks
// that each fires exactly once and never before its deadline.
func TestTimerNeverEarlyAlwaysFires(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		c := start(t, cfg)
		const n = 2000
		type rec struct {
			armed time.Time
			d     time.Duration
			fired atomic.Int32
			early atomic.Int64
		}
		recs := make([]rec, n)
		timers := make([]Timer, n)
		var left atomic.Int32
		left.Store(n)
		on(t, c, func() {
			for i := range timers {
				r := &recs[i]
				r.d = time.Duration(rand.IntN(50_000)) * time.Microsecond
				timers[i].Init(func() {
					if el := time.Since(r.armed); el < r.d {
						r.early.Store(int64(r.d - el))
					}
					r.fired.Add(1)
					left.Add(-1)
				})
				r.armed = time.Now()
				c.AddTimer(&timers[i], r.d)
			}
		})
		waitFor(t, 20*time.Second, "all timers to fire", func() bool { return left.Load() == 0 })
		on(t, c, func() {
			if c.Timers() != 0 {
				t.Errorf("%d timers still armed after all fired", c.Timers())
			}
		})
		for i := range recs {
			if f := recs[i].fired.Load(); f != 1 {
				t.Fatalf("timer %d fired %d times", i, f)
			}
			if e := recs[i].early.Load(); e != 0 {
				t.Fatalf("timer %d (%v) fired %v early", i, recs[i].d, time.Duration(e))
			}
		}
	})
}

// TestManyTimersWithCancel arms 100,000 timers, cancels a third of them
// before they fire (some from inside other timers' callbacks), and checks
// that exactly the others fire.
func TestManyTimersWithCancel(t *testing.T) {
	c := start(t, Config{})
	n := raceOr(20_000, 100_000)
	timers := make([]Timer, n)
	fired := make([]int32, n) // owner only
	var want, got atomic.Int64
	on(t, c, func() {
		for i := range timers {
			i := i
			timers[i].Init(func() {
				fired[i]++
				got.Add(1)
				// Cancel a later timer from inside a callback.
				if j := i + 7; j < n && j%3 == 1 {
					c.CancelTimer(&timers[j])
				}
			})
			c.AddTimer(&timers[i], time.Duration(10+rand.IntN(300))*time.Millisecond)
		}
		for i := range timers {
			if i%3 == 0 {
				if !c.CancelTimer(&timers[i]) {
					t.Errorf("CancelTimer(%d) of an armed timer returned false", i)
				}
			}
		}
	})
	for i := 0; i < n; i++ {
		if i%3 != 0 {
			want.Add(1)
		}
	}
	// Timers j%3==1 may be cancelled by timer j-7 if it fires first; count
	// those as not wanted once everything is done.
	waitFor(t, 30*time.Second, "timers to drain", func() bool {
		var armed int
		on(t, c, func() { armed = c.Timers() })
		return armed == 0
	})
	on(t, c, func() {
		var fires int64
		for i, f := range fired {
			if i%3 == 0 && f != 0 {
				t.Fatalf("cancelled timer %d fired", i)
			}
			if f > 1 {
				t.Fatalf("timer %d fired %d times", i, f)
			}
			fires += int64(f)
			if i%3 == 2 && f != 1 {
				t.Fatalf("timer %d never fired", i)
			}
		}
		if fires != got.Load() {
			t.Fatalf("fire count mismatch %d vs %d", fires, got.Load())
		}
	})
	if got.Load() > want.Load() || got.Load() < want.Load()*1/2 {
		t.Fatalf("%d timers fired, want between %d and %d", got.Load(), want.Load()/2, want.Load())
	}
}

func TestTimerRearmFromCallback(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg Config) {
		c := start(t, cfg)
		var count atomic.Int32
		var tm Timer
		tm.Init(func() {
			if count.Add(1) < 100 {
				c.AddTimer(&tm, time.Millisecond)
			}
		})
		on(t, c, func() { c.AddTimer(&tm, time.Millisecond) })
		waitFor(t, 20*time.Second, "100 re-arms", func() bool { return count.Load() == 100 })
		on(t, c, func() {
			if tm.Armed() {
				t.Error("timer still armed after the last run")
			}
		})
	})
}

// TestLongTimers uses a small wheel (64 slots of 1ms) so that timers go
// round it several times before they fire.
func TestLongTimers(t *testing.T) {
	c := start(t, Config{WheelSlots: 64, Tick: time.Millisecond})
	ds := []time.Duration{70 * time.Millisecond, 130 * time.Millisecond, 200 * time.Millisecond, 333 * time.Millisecond}
	firedAt := make([]atomic.Int64, len(ds))
	timers := make([]Timer, len(ds))
	var cancelled Timer
	cancelled.Init(func() { t.Error("a cancelled long timer fired") })
	start := time.Now()
	on(t, c, func() {
		for i, d := range ds {
			i := i
			timers[i].Init(func() { firedAt[i].Store(int64(time.Since(start))) })
			c.AddTimer(&timers[i], d)
		}
		c.AddTimer(&cancelled, 150*time.Millisecond)
		c.CancelTimer(&cancelled)
	})
	waitFor(t, 20*time.Second, "long timers", func() bool { return firedAt[len(ds)-1].Load() != 0 })
	for i, d := range ds {
		at := time.Duration(firedAt[i].Load())
		if at < d {
			t.Fatalf("timer %v fired at %v: early", d, at)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the cancelled one's slot pass
}

func TestWheelNext(t *testing.T) {
	var w wheel
	w.init(time.Millisecond, 64, 0)
	if _, ok := w.next(); ok {
		t.Fatal("empty wheel has a next deadline")
	}
	var a, b, far Timer
	for _, tm := range []*Timer{&a, &b, &far} {
		tm.Init(func() {})
	}
	w.add(&far, 0, 1000*time.Millisecond) // many laps ahead, slot 1000&63=40
	w.add(&a, 0, 50*time.Millisecond)
	w.add(&b, 0, 10*time.Millisecond)
	if when, _ := w.next(); when != 10 {
		t.Fatalf("next = %d, want 10", when)
	}
	w.cancel(&b)
	if when, _ := w.next(); when != 50 {
		t.Fatalf("after cancel next = %d, want 50", when)
	}
	w.cancel(&a)
	if when, _ := w.next(); when != 1000 {
		t.Fatalf("only a far timer: next = %d, want 1000", when)
	}
	if d := w.timeout(int64(999*time.Millisecond) + 1); d != time.Millisecond-1 {
		t.Fatalf("timeout = %v", d)
	}
	// Rounding up: 1.5 ticks becomes 2.
	var r Timer
	r.Init(func() {})
	w.add(&r, 0, 1500*time.Microsecond)
	if r.when != 2 {
		t.Fatalf("1.5ms rounded to tick %d, want 2", r.when)
	}
	if n := w.expire(int64(1999 * time.Microsecond)); n != 0 {
		t.Fatal("timer fired before its rounded deadline")
	}
	if n := w.expire(int64(2 * time.Millisecond)); n != 1 {
		t.Fatalf("expire at the deadline fired %d, want 1", n)
	}
}
