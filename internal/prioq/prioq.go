// Package prioq holds the priority queues both messengers use: the
// per-connection out-queue and Ceph's DispatchQueue order.
//
// A Queue has 256 levels (a message's priority, CEPH_MSG_PRIO_*), FIFO
// within a level. PopHighest serves the highest level first (the out-queue);
// PopDispatch serves levels at or above gomsgr.PrioLow (64) strictly highest
// first and shares what is left below 64 by weight, as Ceph's DispatchQueue
// does. Dispatch runs a Queue on one goroutine.
package prioq

import (
	"math/bits"
	"sync"

	"github.com/gomsgr/gomsgr"
)

// Clamp maps a message priority to a level: zero means PrioDefault, and
// anything above 255 is 255.
func Clamp(prio uint16) int {
	if prio == 0 {
		return gomsgr.PrioDefault
	}
	return int(min(prio, 255))
}

// fifo is a growable ring; it allocates only when it grows.
type fifo[T any] struct {
	buf        []T
	head, size int
}

func (f *fifo[T]) push(it T) {
	if f.size == len(f.buf) {
		n := max(4, 2*len(f.buf))
		buf := make([]T, n)
		for i := 0; i < f.size; i++ {
			buf[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = buf, 0
	}
	f.buf[(f.head+f.size)%len(f.buf)] = it
	f.size++
}

func (f *fifo[T]) pop() T {
	var zero T
	it := f.buf[f.head]
	f.buf[f.head] = zero
	f.head = (f.head + 1) % len(f.buf)
	f.size--
	return it
}

// Queue is a 256-level priority queue. It is not locked: its owner locks it.
//
// A level's FIFO is made the first time the level is used: a connection's
// out-queue sees one to three priorities in practice, so an idle connection
// holds about 600 bytes of queue instead of 256 FIFOs (10 KiB).
type Queue[T any] struct {
	slot    [256]uint16 // level → 1 + its index in fifos; 0: never used
	fifos   []fifo[T]
	nonzero [4]uint64 // bitmap of non-empty levels
	n       int
	credit  *[64]int // PopDispatch's weighted round robin below PrioLow
}

// level returns level p's FIFO, making it on first use.
func (q *Queue[T]) level(p int) *fifo[T] {
	i := q.slot[p]
	if i == 0 {
		q.fifos = append(q.fifos, fifo[T]{})
		i = uint16(len(q.fifos))
		q.slot[p] = i
	}
	return &q.fifos[i-1]
}

// size returns the number of items at level p.
func (q *Queue[T]) size(p int) int {
	if i := q.slot[p]; i != 0 {
		return q.fifos[i-1].size
	}
	return 0
}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int { return q.n }

// Push appends it at level prio (0..255; see Clamp).
func (q *Queue[T]) Push(prio int, it T) {
	q.level(prio).push(it)
	q.nonzero[prio>>6] |= 1 << (prio & 63)
	q.n++
}

// PushFront inserts it at the front of level prio: it is the next item
// that level gives out.
func (q *Queue[T]) PushFront(prio int, it T) {
	f := q.level(prio)
	if f.size == len(f.buf) {
		f.push(it) // grow; the item goes to the front below
		f.size--
		var zero T
		f.buf[(f.head+f.size)%len(f.buf)] = zero
	}
	f.head = (f.head - 1 + len(f.buf)) % len(f.buf)
	f.buf[f.head] = it
	f.size++
	q.nonzero[prio>>6] |= 1 << (prio & 63)
	q.n++
}

// Front returns the oldest item of level prio without removing it.
func (q *Queue[T]) Front(prio int) (T, bool) {
	if q.size(prio) == 0 {
		var zero T
		return zero, false
	}
	f := &q.fifos[q.slot[prio]-1]
	return f.buf[f.head], true
}

// PopLevel removes the oldest item of level prio, which must not be empty.
func (q *Queue[T]) PopLevel(prio int) T { return q.take(prio) }

// Remove takes out the items for which drop reports true, keeping the
// order of the others, and returns them.
func (q *Queue[T]) Remove(drop func(T) bool) []T {
	var out []T
	for p := range q.slot {
		if q.size(p) == 0 {
			continue
		}
		f := &q.fifos[q.slot[p]-1]
		n := f.size
		for i := 0; i < n; i++ {
			it := f.pop()
			if drop(it) {
				out = append(out, it)
			} else {
				f.push(it)
			}
		}
		q.n -= n - f.size
		if f.size == 0 {
			q.nonzero[p>>6] &^= 1 << (p & 63)
		}
	}
	return out
}

// PopHighest removes the oldest item of the highest level. Len must be > 0.
func (q *Queue[T]) PopHighest() T {
	for w := 3; w >= 0; w-- {
		if x := q.nonzero[w]; x != 0 {
			return q.take(w*64 + 63 - bits.LeadingZeros64(x))
		}
	}
	panic("prioq: pop from an empty queue")
}

// PopDispatch removes the next item in Ceph's DispatchQueue order: levels
// at or above PrioLow strictly highest first; below it, each level p earns
// p+1 turns per round and the highest level with turns left goes next, so
// low levels are not starved. Len must be > 0.
func (q *Queue[T]) PopDispatch() T {
	if q.nonzero[1]|q.nonzero[2]|q.nonzero[3] != 0 {
		return q.PopHighest()
	}
	if q.credit == nil {
		q.credit = new([64]int)
	}
	for round := 0; round < 2; round++ {
		for p := 63; p >= 0; p-- {
			if q.nonzero[0]&(1<<p) != 0 && q.credit[p] > 0 {
				q.credit[p]--
				return q.take(p)
			}
		}
		for p := range q.credit {
			q.credit[p] = p + 1
		}
	}
	return q.PopHighest()
}

func (q *Queue[T]) take(p int) T {
	f := &q.fifos[q.slot[p]-1]
	it := f.pop()
	if f.size == 0 {
		q.nonzero[p>>6] &^= 1 << (p & 63)
	}
	q.n--
	return it
}

// Dispatch hands queued items to deliver on one goroutine, in PopDispatch
// order (Ceph's DispatchQueue).
type Dispatch[T any] struct {
	mu      sync.Mutex
	cond    sync.Cond
	q       Queue[T]
	stopped bool
	done    chan struct{}
	deliver func(T)
}

// NewDispatch returns a stopped-until-Run dispatcher calling deliver.
func NewDispatch[T any](deliver func(T)) *Dispatch[T] {
	d := &Dispatch[T]{deliver: deliver, done: make(chan struct{})}
	d.cond.L = &d.mu
	return d
}

// Len returns the number of queued items.
func (d *Dispatch[T]) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.q.n
}

// Enqueue queues it at prio; false means the dispatcher is stopped.
func (d *Dispatch[T]) Enqueue(prio uint16, it T) bool {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return false
	}
	d.q.Push(Clamp(prio), it)
	d.mu.Unlock()
	d.cond.Signal()
	return true
}

// Run delivers until Stop; it is the dispatcher's goroutine.
func (d *Dispatch[T]) Run() {
	defer close(d.done)
	d.mu.Lock()
	for {
		for d.q.n == 0 && !d.stopped {
			d.cond.Wait()
		}
		if d.stopped {
			d.mu.Unlock()
			return
		}
		it := d.q.PopDispatch()
		d.mu.Unlock()
		d.deliver(it)
		d.mu.Lock()
	}
}

// Stop makes Run return after the item it is delivering and returns the
// items still queued, for the caller to release.
func (d *Dispatch[T]) Stop() []T {
	d.mu.Lock()
	d.stopped = true
	var left []T
	for d.q.n > 0 {
		left = append(left, d.q.PopHighest())
	}
	d.mu.Unlock()
	d.cond.Broadcast()
	return left
}

// Discard removes the queued items for which drop reports true and returns
// them, for the caller to release (Ceph's DispatchQueue::discard_queue).
// The other items keep their order.
func (d *Dispatch[T]) Discard(drop func(T) bool) []T {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.q.Remove(drop)
}

// Done is closed when Run has returned.
func (d *Dispatch[T]) Done() <-chan struct{} { return d.done }
