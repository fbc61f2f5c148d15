package prioq

import (
	"slices"
	"testing"

	"github.com/gomsgr/gomsgr"
)

// TestQueueOrder: highest level first, FIFO within a level, Clamp applied.
func TestQueueOrder(t *testing.T) {
	var q Queue[uint64]
	in := []struct {
		prio uint16
		tid  uint64
	}{{0, 1}, {gomsgr.PrioLow, 2}, {255, 3}, {gomsgr.PrioDefault, 4}, {300, 5}, {gomsgr.PrioLow, 6}, {1, 7}}
	for _, x := range in {
		q.Push(Clamp(x.prio), x.tid)
	}
	var got []uint64
	for q.Len() > 0 {
		got = append(got, q.PopHighest())
	}
	// 255 (3, then 300 clamped: 5), default 127 (1 as prio 0, then 4),
	// low 64 (2, 6), then 1 (7).
	if want := []uint64{3, 5, 1, 4, 2, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	if q.nonzero != [4]uint64{} {
		t.Fatalf("bitmap %v not empty after draining", q.nonzero)
	}
}

// TestDispatchOrderWeighted: strict at and above PrioLow, then everything
// below is served, FIFO within a level.
func TestDispatchOrderWeighted(t *testing.T) {
	var q Queue[uint64]
	for i, p := range []uint16{10, gomsgr.PrioLow, 3, 10, gomsgr.PrioLow, 3} {
		q.Push(Clamp(p), uint64(i))
	}
	var got []uint64
	for q.Len() > 0 {
		got = append(got, q.PopDispatch())
	}
	if len(got) != 6 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("dispatched %v: want both PrioLow items (1, 4) first, then all others", got)
	}
	pos := func(tid uint64) int { return slices.Index(got, tid) }
	if pos(0) > pos(3) || pos(2) > pos(5) {
		t.Fatalf("dispatched %v: FIFO within a level broken", got)
	}
}
