package ring

import "sync/atomic"

// MPSC is a bounded lock-free multi-producer single-consumer queue (Dmitry
// Vyukov's bounded queue with a sequence number per slot, with the consumer
// side simplified for a single consumer).
//
// TryPush may be called from any goroutine; Pop, Len and Empty only from the
// one consumer goroutine (Len and Empty are advisory for others). Each
// producer's elements are popped in the order that producer pushed them.
//
// A slot's sequence number is the handshake between producer and consumer:
// seq == pos means the slot is free for the producer that claims position pos;
// seq == pos+1 means it holds the element for the consumer; the consumer frees
// it for the next lap with seq = pos+cap. All accesses to seq are atomic, so by
// the Go memory model the store that publishes a slot happens before the load
// that observes it, and the element written before the store is visible after
// the load.
type MPSC[T any] struct {
	_     pad
	tail  atomic.Uint64 // next position to claim; producers CAS it
	_     pad
	head  uint64 // next position to pop; consumer only
	_     pad
	mask  uint64
	slots []mpscSlot[T]
}

type mpscSlot[T any] struct {
	seq atomic.Uint64
	val T
}

// NewMPSC returns an empty queue holding at least capacity elements (rounded up
// to a power of two).
func NewMPSC[T any](capacity int) *MPSC[T] {
	n := roundPow2(capacity)
	q := &MPSC[T]{mask: uint64(n - 1), slots: make([]mpscSlot[T], n)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// Cap returns the number of elements the queue holds when full.
func (q *MPSC[T]) Cap() int { return len(q.slots) }

// TryPush appends v and reports true, or reports false without blocking when
// the queue is full. It is lock-free: a stalled producer never blocks another
// producer, though the consumer cannot pass a slot that a stalled producer has
// claimed but not yet published.
func (q *MPSC[T]) TryPush(v T) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load() // acquire: pairs with the consumer's release of the slot
		switch diff := int64(seq - pos); {
		case diff == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // release: publishes val to the consumer
				return true
			}
			pos = q.tail.Load()
		case diff < 0:
			// The slot still holds the element from one lap ago: full.
			return false
		default:
			// Another producer claimed pos; try the newest tail.
			pos = q.tail.Load()
		}
	}
}

// Pop removes and returns the oldest published element. It reports false when
// the queue is empty or when the next element is claimed but not yet published
// by its producer (which then finishes in a few instructions). Consumer only.
func (q *MPSC[T]) Pop() (T, bool) {
	var zero T
	pos := q.head
	s := &q.slots[pos&q.mask]
	if s.seq.Load() != pos+1 { // acquire: pairs with the producer's publish
		return zero, false
	}
	v := s.val
	s.val = zero // drop the reference so the GC can collect it
	q.head = pos + 1
	s.seq.Store(pos + q.mask + 1) // release: frees the slot for the next lap
	return v, true
}

// Empty reports whether no element has been claimed past the consumer's
// position. Unlike a false Pop, a false Empty means an element is in the queue
// or about to be published. Consumer only.
func (q *MPSC[T]) Empty() bool { return q.tail.Load() == q.head }

// Pushed returns how many positions producers have claimed so far: the
// elements pushed, and being pushed, since the queue was made. Any
// goroutine may call it; a caller that pushed and then reads Pushed gets a
// count that includes its own element.
func (q *MPSC[T]) Pushed() uint64 { return q.tail.Load() }

// Popped returns how many elements the consumer has popped since the
// queue was made. Consumer only.
func (q *MPSC[T]) Popped() uint64 { return q.head }

// Len returns the number of claimed elements not yet popped. Consumer only.
func (q *MPSC[T]) Len() int { return int(q.tail.Load() - q.head) }
