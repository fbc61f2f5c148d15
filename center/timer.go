package center

import (
	"math"
	"math/bits"
	"time"
)

// Timer is a one-shot timer on a center's wheel. Embed it in the object it
// serves (or allocate it once) and re-arm it as often as needed: arming and
// cancelling allocate nothing.
//
// A Timer belongs to one center at a time and is armed, cancelled and fired
// only on that center's owner goroutine. Its callback runs on the owner and
// may re-arm the timer or arm and cancel others.
type Timer struct {
	fn         func()
	when       int64 // deadline in wheel ticks of Nanotime
	next, prev *Timer
	list       *timerList // nil when not armed
}

// NewTimer returns a timer that runs fn when it fires.
func NewTimer(fn func()) *Timer { return &Timer{fn: fn} }

// Init sets the callback of an embedded timer. It must not be armed.
func (t *Timer) Init(fn func()) { t.fn = fn }

// Armed reports whether the timer is waiting to fire. Owner only.
func (t *Timer) Armed() bool { return t.list != nil }

// timerList is an intrusive doubly linked list with a sentinel node.
type timerList struct {
	head Timer
	n    int
}

func (l *timerList) init() { l.head.next, l.head.prev = &l.head, &l.head }

func (l *timerList) pushBack(t *Timer) {
	t.prev, t.next = l.head.prev, &l.head
	l.head.prev.next = t
	l.head.prev = t
	t.list = l
	l.n++
}

func (l *timerList) remove(t *Timer) {
	t.prev.next, t.next.prev = t.next, t.prev
	t.next, t.prev, t.list = nil, nil, nil
	l.n--
}

// wheel is a hashed timing wheel: slot i holds every timer whose deadline
// tick is ≡ i modulo the slot count, so add and cancel are O(1). A bitmap of
// non-empty slots and each slot's smallest deadline make finding the next
// deadline cheap, so the loop sleeps exactly until then and never spins on a
// timer. A slot's minimum may be stale-low after a cancel; that only costs an
// early wake-up, after which the slot's minimum is recomputed.
type wheel struct {
	tick    int64 // ns per tick
	mask    int64
	cur     int64 // last tick whose slot was processed
	slots   []timerList
	minWhen []int64
	bitmap  []uint64
	count   int
	firing  timerList
}

func (w *wheel) init(tick time.Duration, slots int, nowNs int64) {
	n := 1
	for n < slots {
		n <<= 1
	}
	if n < 64 {
		n = 64
	}
	w.tick = int64(tick)
	w.mask = int64(n - 1)
	w.cur = nowNs / w.tick
	w.slots = make([]timerList, n)
	w.minWhen = make([]int64, n)
	w.bitmap = make([]uint64, n/64)
	for i := range w.slots {
		w.slots[i].init()
		w.minWhen[i] = math.MaxInt64
	}
	w.firing.init()
}

// add arms t to fire d after nowNs, rounded up to the next tick boundary,
// and never in a tick that was already processed.
func (w *wheel) add(t *Timer, nowNs int64, d time.Duration) {
	if t.list != nil {
		w.cancel(t)
	}
	deadline := nowNs + int64(d)
	if d > 0 && deadline < nowNs { // overflow: effectively never
		deadline = math.MaxInt64 - w.tick
	}
	when := deadline / w.tick
	if deadline%w.tick != 0 {
		when++
	}
	if when <= w.cur {
		when = w.cur + 1
	}
	t.when = when
	s := when & w.mask
	w.slots[s].pushBack(t)
	w.bitmap[s>>6] |= 1 << (s & 63)
	if when < w.minWhen[s] {
		w.minWhen[s] = when
	}
	w.count++
}

// cancel disarms t and reports whether it was armed.
func (w *wheel) cancel(t *Timer) bool {
	l := t.list
	if l == nil {
		return false
	}
	l.remove(t)
	if l == &w.firing {
		return true // counted out already when it was moved to firing
	}
	w.count--
	if l.n == 0 {
		s := t.when & w.mask
		w.bitmap[s>>6] &^= 1 << (s & 63)
		w.minWhen[s] = math.MaxInt64
	}
	return true
}

// expire runs every timer whose deadline tick is at or before nowNs's tick.
func (w *wheel) expire(nowNs int64) int {
	now := nowNs / w.tick
	if now <= w.cur {
		return 0
	}
	if w.count > 0 {
		from := w.cur + 1
		if now-from > w.mask {
			from = now - w.mask // one full revolution visits every slot
		}
		for tk := from; tk <= now; tk++ {
			s := tk & w.mask
			if w.bitmap[s>>6]&(1<<(s&63)) == 0 {
				continue
			}
			w.collect(s, now)
		}
	}
	w.cur = now
	fired := 0
	// Callbacks may arm and cancel timers, including ones still waiting in
	// firing; cancel unlinks those from firing.
	for w.firing.n > 0 {
		t := w.firing.head.next
		w.firing.remove(t)
		fired++
		t.fn()
	}
	return fired
}

// collect moves slot s's due timers to the firing list and recomputes the
// slot's minimum.
func (w *wheel) collect(s, now int64) {
	l := &w.slots[s]
	min := int64(math.MaxInt64)
	for t := l.head.next; t != &l.head; {
		next := t.next
		if t.when <= now {
			l.remove(t)
			w.count--
			w.firing.pushBack(t)
		} else if t.when < min {
			min = t.when
		}
		t = next
	}
	w.minWhen[s] = min
	if l.n == 0 {
		w.bitmap[s>>6] &^= 1 << (s & 63)
	}
}

// next returns the earliest deadline tick among armed timers (possibly
// earlier than the true one after cancels) and false when none is armed.
func (w *wheel) next() (int64, bool) {
	if w.count == 0 {
		return 0, false
	}
	n := w.mask + 1
	best := int64(math.MaxInt64)
	start := (w.cur + 1) & w.mask
	// Walk the bitmap once around the wheel, starting at the next tick. The
	// first slot whose minimum falls within this revolution holds the
	// earliest deadline; slots holding only later laps are folded into best.
	for off := int64(0); off < n; {
		s := (start + off) & w.mask
		word := w.bitmap[s>>6] >> (s & 63)
		if word == 0 {
			off += 64 - (s & 63)
			continue
		}
		z := int64(bits.TrailingZeros64(word))
		off += z
		if off >= n {
			break
		}
		s = (start + off) & w.mask
		m := w.minWhen[s]
		if m <= w.cur+1+off {
			// This revolution: nothing later in the walk can be earlier.
			if m < best {
				best = m
			}
			return best, true
		}
		if m < best {
			best = m
		}
		off++
	}
	return best, true
}

// timeout converts next() into a wait timeout from nowNs: negative for none.
func (w *wheel) timeout(nowNs int64) time.Duration {
	when, ok := w.next()
	if !ok {
		return -1
	}
	d := when*w.tick - nowNs
	if d < 0 {
		return 0
	}
	return time.Duration(d)
}
