package center

import (
	"sync"
	"sync/atomic"

	"github.com/gomsgr/gomsgr/ring"
)

// Event is a reusable external event: a callback that any goroutine can post
// to a center. An Event that is already queued is not queued again, so
// posting it many times before it runs costs one run (Ceph's
// write_in_progress lesson: one pending write handler per connection).
// The queued flag is cleared just before the callback runs, so a post made
// while it runs queues it once more.
type Event struct {
	fn     func()
	queued atomic.Bool
}

// NewEvent returns an Event that runs fn on the center it is posted to.
func NewEvent(fn func()) *Event { return &Event{fn: fn} }

// Init sets the callback of an embedded Event. It must not be queued.
func (e *Event) Init(fn func()) { e.fn = fn }

// task is one queued external event: a reusable Event or a one-off func.
type task struct {
	ev *Event
	fn func()
}

func (t task) run() {
	if t.ev != nil {
		t.ev.queued.Store(false)
		t.ev.fn()
		return
	}
	t.fn()
}

// extQueue is the external event queue: a lock-free MPSC ring, and when the
// ring is full a mutex-guarded overflow list.
//
// Order: each producer's tasks run in the order it pushed them. While the
// overflow list is non-empty, producers append there. A producer that read
// "not overflowing" just before another filled the ring may still put a
// task in the ring after that, and then its next task in the overflow; so
// every overflow entry records how many ring positions had been claimed
// when it was appended, and the consumer runs an entry only once it has
// popped that many: a task in the ring never runs after a later task of
// the same producer that went to the overflow.
type extQueue struct {
	ring        *ring.MPSC[task]
	overflowing atomic.Bool
	mu          sync.Mutex
	overflow    []ovfTask
	spare       []ovfTask // the consumer's last batch, reused
}

// ovfTask is an overflow entry: the task and the ring's claimed count when
// it was appended.
type ovfTask struct {
	t     task
	after uint64
}

func (q *extQueue) init(size int) { q.ring = ring.NewMPSC[task](size) }

func (q *extQueue) push(t task) {
	if !q.overflowing.Load() && q.ring.TryPush(t) {
		return
	}
	q.mu.Lock()
	// Re-check under the lock: the consumer may have drained the overflow
	// and the ring since, but once in the overflow path we stay in it while
	// the list is non-empty.
	if len(q.overflow) == 0 && q.ring.TryPush(t) {
		q.mu.Unlock()
		return
	}
	q.overflow = append(q.overflow, ovfTask{t: t, after: q.ring.Pushed()})
	q.overflowing.Store(true)
	q.mu.Unlock()
}

// empty reports whether nothing is queued or being pushed. Consumer only.
func (q *extQueue) empty() bool { return q.ring.Empty() && !q.overflowing.Load() }

// drain runs queued tasks: what the ring held when it began, then the
// overflow entries whose ring predecessors have all run. It returns how
// many ran. A task posted while it runs waits for the next turn, as in
// Ceph's process_events (which swaps the list out first): a handler that
// posts to its own loop must not keep a turn from ending, or the loop's
// files and timers would wait behind it.
func (q *extQueue) drain() int {
	ran := 0
	for end := q.ring.Pushed(); q.ring.Popped() < end; {
		t, ok := q.ring.Pop()
		if !ok {
			break // a producer has its slot but has not published yet
		}
		t.run()
		ran++
	}
	if !q.overflowing.Load() {
		return ran
	}
	popped := q.ring.Popped()
	q.mu.Lock()
	k := 0
	for k < len(q.overflow) && q.overflow[k].after <= popped {
		k++
	}
	if k == 0 {
		// A producer is still publishing into the ring what must run
		// first: it will finish and the loop comes back.
		q.mu.Unlock()
		return ran
	}
	batch := append(q.spare[:0], q.overflow[:k]...)
	rest := copy(q.overflow, q.overflow[k:])
	clear(q.overflow[rest:])
	q.overflow = q.overflow[:rest]
	if rest == 0 {
		q.overflowing.Store(false)
	}
	q.mu.Unlock()
	for i := range batch {
		batch[i].t.run()
		batch[i] = ovfTask{}
		ran++
	}
	q.spare = batch[:0]
	return ran
}
