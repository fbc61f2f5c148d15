package ring

import "sync/atomic"

// SPSC is a bounded lock-free single-producer single-consumer ring.
//
// Exactly one goroutine calls TryPush and exactly one (possibly another) calls
// Pop. Each side caches the other's index and reloads it only when the cached
// value says full or empty, so the shared cache lines move only when needed.
type SPSC[T any] struct {
	_          pad
	tail       atomic.Uint64 // written by the producer only
	cachedHead uint64        // producer's copy of head
	_          pad
	head       atomic.Uint64 // written by the consumer only
	cachedTail uint64        // consumer's copy of tail
	_          pad
	mask       uint64
	buf        []T
}

// NewSPSC returns an empty ring holding at least capacity elements (rounded up
// to a power of two).
func NewSPSC[T any](capacity int) *SPSC[T] {
	n := roundPow2(capacity)
	return &SPSC[T]{mask: uint64(n - 1), buf: make([]T, n)}
}

// Cap returns the number of elements the ring holds when full.
func (q *SPSC[T]) Cap() int { return len(q.buf) }

// TryPush appends v and reports true, or reports false when the ring is full.
// Producer only.
func (q *SPSC[T]) TryPush(v T) bool {
	t := q.tail.Load() // only we write tail
	if t-q.cachedHead == uint64(len(q.buf)) {
		q.cachedHead = q.head.Load() // acquire: the consumer is done with slots before head
		if t-q.cachedHead == uint64(len(q.buf)) {
			return false
		}
	}
	q.buf[t&q.mask] = v
	q.tail.Store(t + 1) // release: publishes buf[t]
	return true
}

// Pop removes and returns the oldest element, or reports false when the ring
// is empty. Consumer only.
func (q *SPSC[T]) Pop() (T, bool) {
	var zero T
	h := q.head.Load() // only we write head
	if h == q.cachedTail {
		q.cachedTail = q.tail.Load() // acquire: pairs with the producer's publish
		if h == q.cachedTail {
			return zero, false
		}
	}
	i := h & q.mask
	v := q.buf[i]
	q.buf[i] = zero
	q.head.Store(h + 1) // release: the slot may be reused
	return v, true
}

// Len returns the number of elements in the ring (exact for either side's own
// view, advisory for others).
func (q *SPSC[T]) Len() int { return int(q.tail.Load() - q.head.Load()) }
