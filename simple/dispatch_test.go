package simple

import (
	"slices"
	"testing"

	"github.com/gomsgr/gomsgr"
)

func TestPrioQueueOrder(t *testing.T) {
	var q prioQueue
	in := []struct {
		prio uint16
		tid  uint64
	}{{0, 1}, {gomsgr.PrioLow, 2}, {255, 3}, {gomsgr.PrioDefault, 4}, {300, 5}, {gomsgr.PrioLow, 6}, {1, 7}}
	for _, x := range in {
		q.push(clampPrio(x.prio), qitem{m: &gomsgr.Message{Tid: x.tid}})
	}
	var got []uint64
	for q.n > 0 {
		got = append(got, q.popHighest().m.Tid)
	}
	// 255 (3, then 300 clamped: 5), default 127 (1 as prio 0, then 4),
	// low 64 (2, 6), then 1 (7).
	want := []uint64{3, 5, 1, 4, 2, 6, 7}
	if !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	if q.nonzero != [4]uint64{} {
		t.Fatalf("bitmap %v not empty after draining", q.nonzero)
	}
}

func TestDispatchQueueOrder(t *testing.T) {
	var got []uint64
	done := make(chan struct{})
	seen := false
	q := newDispatchQueue(func(it qitem) {
		if seen {
			return
		}
		if it.m == nil {
			seen = true
			close(done)
			return
		}
		got = append(got, it.m.Tid)
	})
	// Strict at and above PrioLow; below it, weighted, but everything is
	// served and each priority stays FIFO.
	for i, p := range []uint16{10, gomsgr.PrioLow, 200, gomsgr.PrioLow, 10, 3, 150} {
		q.enqueue(p, qitem{m: &gomsgr.Message{Tid: uint64(i)}})
	}
	q.enqueue(0, qitem{ev: evReset}) // priority 0 means PrioDefault (127)
	go q.run()
	<-done
	q.stop()
	<-q.done
	// 200 (2), 150 (6), then the event at 127; what follows is not
	// recorded.
	if want := []uint64{2, 6}; !slices.Equal(got, want) {
		t.Fatalf("dispatched %v before the event, want %v", got, want)
	}
}

func TestDispatchQueueWeighted(t *testing.T) {
	var got []uint64
	q := newDispatchQueue(func(it qitem) { got = append(got, it.m.Tid) })
	for i, p := range []uint16{10, gomsgr.PrioLow, 3, 10, gomsgr.PrioLow, 3} {
		q.enqueue(p, qitem{m: &gomsgr.Message{Tid: uint64(i)}})
	}
	for q.len() > 0 {
		q.mu.Lock()
		it := q.next()
		q.mu.Unlock()
		q.deliver(it)
	}
	if len(got) != 6 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("dispatched %v: want both PrioLow messages (1, 4) first, then all others", got)
	}
	pos := func(tid uint64) int { return slices.Index(got, tid) }
	if pos(0) > pos(3) || pos(2) > pos(5) {
		t.Fatalf("dispatched %v: FIFO within a priority broken", got)
	}
}
