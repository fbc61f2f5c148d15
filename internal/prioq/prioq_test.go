package prioq

import (
	"testing"
	"time"
)

func TestPopHighestOrder(t *testing.T) {
	var q Queue[int]
	q.Push(64, 1)
	q.Push(200, 2)
	q.Push(64, 3)
	q.Push(255, 4)
	q.Push(0, 5)
	var got []int
	for q.Len() > 0 {
		got = append(got, q.PopHighest())
	}
	want := []int{4, 2, 1, 3, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestPopDispatchWeightsLowLevels(t *testing.T) {
	var q Queue[int]
	for i := 0; i < 1000; i++ {
		q.Push(60, 60)
		q.Push(2, 2)
	}
	served := map[int]int{}
	for i := 0; i < 630; i++ {
		served[q.PopDispatch()]++
	}
	// Level 60 earns 61 turns per round, level 2 earns 3: both progress.
	if served[2] == 0 || served[60] <= served[2] {
		t.Fatalf("served %v: want level 2 served, level 60 more", served)
	}
	// Strict above 64.
	q.Push(100, 100)
	if v := q.PopDispatch(); v != 100 {
		t.Fatalf("PopDispatch = %d with a level-100 item queued", v)
	}
}

func TestClamp(t *testing.T) {
	if Clamp(0) != 127 || Clamp(300) != 255 || Clamp(64) != 64 {
		t.Fatal("Clamp")
	}
}

func TestDispatch(t *testing.T) {
	got := make(chan int, 10)
	d := NewDispatch(func(v int) { got <- v })
	go d.Run()
	d.Enqueue(127, 1)
	d.Enqueue(127, 2)
	for _, want := range []int{1, 2} {
		select {
		case v := <-got:
			if v != want {
				t.Fatalf("got %d, want %d", v, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not delivered")
		}
	}
	block := make(chan struct{})
	d2 := NewDispatch(func(int) { <-block })
	go d2.Run()
	d2.Enqueue(127, 1) // being delivered
	for d2.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	d2.Enqueue(127, 2)
	d2.Enqueue(127, 3)
	left := d2.Stop()
	close(block)
	<-d2.Done()
	if len(left) != 2 || d2.Enqueue(127, 4) {
		t.Fatalf("Stop returned %v; Enqueue after Stop must fail", left)
	}
	d.Stop()
	<-d.Done()
}

func TestZeroAllocs(t *testing.T) {
	var q Queue[int]
	for i := 0; i < 32; i++ {
		q.Push(127, i)
	}
	for q.Len() > 0 {
		q.PopHighest()
	}
	if a := testing.AllocsPerRun(1000, func() {
		q.Push(127, 1)
		q.PopDispatch()
	}); a != 0 {
		t.Fatalf("Push+Pop: %.1f allocs, want 0", a)
	}
}

// TestPushFrontAndRemove: PushFront puts an item ahead of its level (also
// when the level must grow), Front and PopLevel see it first, and Remove
// takes out matching items keeping the others' order and the bitmap right.
func TestPushFrontAndRemove(t *testing.T) {
	var q Queue[int]
	for i := 1; i <= 20; i++ { // grows past the first 16-slot ring
		q.Push(255, i)
	}
	for i := 0; i >= -20; i-- {
		q.PushFront(255, i)
	}
	if f, ok := q.Front(255); !ok || f != -20 {
		t.Fatalf("Front = %d, %v; want -20", f, ok)
	}
	if got := q.PopLevel(255); got != -20 {
		t.Fatalf("PopLevel = %d, want -20", got)
	}
	q.Push(7, 100)
	q.Push(7, 101)
	odd := q.Remove(func(x int) bool { return x%2 != 0 })
	if len(odd) != 21 || q.Len() != 21 {
		t.Fatalf("removed %d, left %d; want 21 and 21", len(odd), q.Len())
	}
	want := -18
	for q.Len() > 1 {
		if got := q.PopHighest(); got != want {
			t.Fatalf("popped %d, want %d", got, want)
		}
		if want += 2; want == 22 {
			want = 100
		}
	}
	if got := q.PopHighest(); got != 100 || q.Len() != 0 {
		t.Fatalf("last = %d (len %d), want 100", got, q.Len())
	}
	if _, ok := q.Front(255); ok || q.nonzero != [4]uint64{} {
		t.Fatalf("empty queue still has items: bitmap %v", q.nonzero)
	}
}
