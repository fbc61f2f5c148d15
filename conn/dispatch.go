package conn

import (
	"math/bits"
	"sync"

	"github.com/gomsgr/gomsgr"
)

// qitem is one dispatch queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     connEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget to give back after dispatch
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

// fifo is a growable ring of queue items.
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

// DispatchQueue delivers received messages and connection events to the
// slow dispatchers on one goroutine (Ceph's DispatchQueue). Priorities at or
// above gomsgr.PrioLow are served strictly highest first; lower priorities
// share what is left by weight. Within a priority, order is FIFO, so one
// connection's messages of one priority keep their order.
type DispatchQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	queues  [256]fifo
	nonzero [4]uint64 // bitmap of non-empty priorities
	n       int
	stopped bool
	credit  [64]int // weighted round robin below PrioLow
	done    chan struct{}

	deliver func(qitem)
	drop    func(qitem) // gives back what a discarded item held
}

func newDispatchQueue(deliver func(qitem)) *DispatchQueue {
	q := &DispatchQueue{deliver: deliver, done: make(chan struct{})}
	q.cond.L = &q.mu
	return q
}

// Len returns the number of queued items.
func (q *DispatchQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *DispatchQueue) enqueue(prio uint16, it qitem) bool {
	if prio > 255 {
		prio = 255
	}
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return false
	}
	q.queues[prio].push(it)
	q.nonzero[prio>>6] |= 1 << (prio & 63)
	q.n++
	q.mu.Unlock()
	q.cond.Signal()
	return true
}

// next removes the item to dispatch now. Caller holds mu and q.n > 0.
func (q *DispatchQueue) next() qitem {
	for w := 3; w >= 1; w-- { // strict: 64..255
		if q.nonzero[w] != 0 {
			p := w*64 + 63 - bits.LeadingZeros64(q.nonzero[w])
			return q.take(p)
		}
	}
	// Weighted below PrioLow: each priority p earns p+1 credits per round;
	// serve the highest priority that still has credit.
	for round := 0; round < 2; round++ {
		for p := 63; p >= 0; p-- {
			if q.queues[p].size > 0 && q.credit[p] > 0 {
				q.credit[p]--
				return q.take(p)
			}
		}
		for p := range q.credit {
			q.credit[p] = p + 1
		}
	}
	p := 63 - bits.LeadingZeros64(q.nonzero[0])
	return q.take(p)
}

func (q *DispatchQueue) take(p int) qitem {
	it := q.queues[p].pop()
	if q.queues[p].size == 0 {
		q.nonzero[p>>6] &^= 1 << (p & 63)
	}
	q.n--
	return it
}

// run dispatches until stop; it is the queue's goroutine.
func (q *DispatchQueue) run() {
	defer close(q.done)
	q.mu.Lock()
	for {
		for q.n == 0 && !q.stopped {
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

// stop makes run return; queued items are discarded (released).
func (q *DispatchQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	var dropped []qitem
	for p := range q.queues {
		for q.queues[p].size > 0 {
			if it := q.queues[p].pop(); it.m != nil {
				dropped = append(dropped, it)
			}
		}
	}
	q.nonzero = [4]uint64{}
	q.n = 0
	q.mu.Unlock()
	q.cond.Broadcast()
	for _, it := range dropped {
		if q.drop != nil {
			q.drop(it)
		}
		it.m.Release()
	}
}
