package simple

import (
	"math/bits"
	"sync"

	"github.com/gomsgr/gomsgr"
)

// qitem is one queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     connEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget, given back after dispatch (dispatch queue only)
}

type connEvent uint8

const (
	evNone connEvent = iota
	evConnect
	evAccept
	evReset
	evRemoteReset
	evRefused
)

// fifo is a growable ring of queue items; it allocates only when it grows.
type fifo struct {
	buf        []qitem
	head, size int
}

func (f *fifo) push(it qitem) {
	if f.size == len(f.buf) {
		n := max(16, 2*len(f.buf))
		buf := make([]qitem, n)
		for i := 0; i < f.size; i++ {
			buf[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = buf, 0
	}
	f.buf[(f.head+f.size)%len(f.buf)] = it
	f.size++
}

func (f *fifo) pop() qitem {
	it := f.buf[f.head]
	f.buf[f.head] = qitem{}
	f.head = (f.head + 1) % len(f.buf)
	f.size--
	return it
}

// prioQueue is a 256-level priority queue of items: highest priority first,
// FIFO within one priority. It is not locked; its owner locks it. The
// connection's out-queue is one.
type prioQueue struct {
	queues  [256]fifo
	nonzero [4]uint64 // bitmap of non-empty priorities
	n       int
}

func clampPrio(prio uint16) int {
	if prio == 0 {
		return gomsgr.PrioDefault
	}
	return int(min(prio, 255))
}

func (q *prioQueue) push(prio int, it qitem) {
	q.queues[prio].push(it)
	q.nonzero[prio>>6] |= 1 << (prio & 63)
	q.n++
}

// popHighest removes the oldest item of the highest priority. q.n > 0.
func (q *prioQueue) popHighest() qitem {
	for w := 3; w >= 0; w-- {
		if x := q.nonzero[w]; x != 0 {
			return q.take(w*64 + 63 - bits.LeadingZeros64(x))
		}
	}
	panic("simple: pop from an empty queue")
}

func (q *prioQueue) take(p int) qitem {
	it := q.queues[p].pop()
	if q.queues[p].size == 0 {
		q.nonzero[p>>6] &^= 1 << (p & 63)
	}
	q.n--
	return it
}

// dispatchQueue delivers received messages and connection events to the
// slow dispatchers on one goroutine (Ceph's DispatchQueue, copied from
// package conn). Priorities at or above gomsgr.PrioLow (64) are served
// strictly highest first; lower priorities share what is left by weight.
// Within a priority, order is FIFO, so one connection's messages of one
// priority keep their order. Connection events go through the same queue at
// PrioHighest.
type dispatchQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	q       prioQueue
	stopped bool
	credit  [64]int // weighted round robin below PrioLow
	done    chan struct{}

	deliver func(qitem)
}

func newDispatchQueue(deliver func(qitem)) *dispatchQueue {
	q := &dispatchQueue{deliver: deliver, done: make(chan struct{})}
	q.cond.L = &q.mu
	return q
}

func (q *dispatchQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.n
}

// enqueue queues it; false means the queue is stopped.
func (q *dispatchQueue) enqueue(prio uint16, it qitem) bool {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return false
	}
	q.q.push(clampPrio(prio), it)
	q.mu.Unlock()
	q.cond.Signal()
	return true
}

// next removes the item to dispatch now. Caller holds mu and q.q.n > 0.
func (q *dispatchQueue) next() qitem {
	if q.q.nonzero[1]|q.q.nonzero[2]|q.q.nonzero[3] != 0 {
		return q.q.popHighest() // strict: 64..255
	}
	// Weighted below PrioLow: each priority p earns p+1 credits per round;
	// serve the highest priority that still has credit.
	for round := 0; round < 2; round++ {
		for p := 63; p >= 0; p-- {
			if q.q.queues[p].size > 0 && q.credit[p] > 0 {
				q.credit[p]--
				return q.q.take(p)
			}
		}
		for p := range q.credit {
			q.credit[p] = p + 1
		}
	}
	return q.q.popHighest()
}

// run dispatches until stop; it is the queue's goroutine.
func (q *dispatchQueue) run() {
	defer close(q.done)
	q.mu.Lock()
	for {
		for q.q.n == 0 && !q.stopped {
			q.cond.Wait()
		}
		if q.stopped {
			q.mu.Unlock()
			return
		}
		it := q.next()
		q.mu.Unlock()
		q.deliver(it)
		q.mu.Lock()
	}
}

// stop makes run return; queued messages are discarded (released).
func (q *dispatchQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	var dropped []qitem
	for q.q.n > 0 {
		if it := q.q.popHighest(); it.m != nil {
			dropped = append(dropped, it)
		}
	}
	q.mu.Unlock()
	q.cond.Broadcast()
	for i := range dropped {
		dropped[i].held.release()
		dropped[i].m.Release()
	}
}
