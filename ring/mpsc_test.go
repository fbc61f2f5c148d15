package ring

import (
	"os"
	"runtime"
	"sync"
	"testing"
)

func TestMPSCFIFO(t *testing.T) {
	q := NewMPSC[int](5)
	if q.Cap() != 8 {
		t.Fatalf("Cap = %d, want 8 (5 rounded up)", q.Cap())
	}
	for lap := 0; lap < 3; lap++ {
		if !q.Empty() {
			t.Fatalf("lap %d: not empty at start", lap)
		}
		for i := 0; i < 8; i++ {
			if !q.TryPush(lap*100 + i) {
				t.Fatalf("lap %d: push %d refused with Len %d", lap, i, q.Len())
			}
		}
		if q.TryPush(-1) {
			t.Fatalf("lap %d: push into a full queue succeeded", lap)
		}
		if q.Len() != 8 {
			t.Fatalf("Len = %d, want 8", q.Len())
		}
		for i := 0; i < 8; i++ {
			v, ok := q.Pop()
			if !ok || v != lap*100+i {
				t.Fatalf("lap %d: Pop = %d, %v; want %d, true", lap, v, ok, lap*100+i)
			}
		}
		if v, ok := q.Pop(); ok {
			t.Fatalf("Pop on empty queue returned %d", v)
		}
	}
}

func TestMPSCReleasesReferences(t *testing.T) {
	q := NewMPSC[*int](2)
	x := 1
	q.TryPush(&x)
	q.Pop()
	if q.slots[0].val != nil {
		t.Fatal("popped slot still references the element")
	}
}

// stressItems is the number of items each producer pushes in the stress tests.
func stressItems() int {
	if os.Getenv("GOMSGR_STRESS") != "" {
		return 10_000_000 // GOMSGR_STRESS=1: the larger setting
	}
	if raceEnabled {
		return 50_000
	}
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// TestMPSCStress pushes from 8 producers into a small queue (so that it is
// often full) and checks that every item arrives exactly once and that each
// producer's items arrive in order.
func TestMPSCStress(t *testing.T) {
	const producers = 8
	n := stressItems()
	q := NewMPSC[uint64](256)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p uint64) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				for !q.TryPush(p<<32 | uint64(i)) {
					runtime.Gosched()
				}
			}
		}(uint64(p))
	}
	next := make([]int, producers)
	for got := 0; got < producers*n; {
		v, ok := q.Pop()
		if !ok {
			runtime.Gosched()
			continue
		}
		p, i := int(v>>32), int(uint32(v))
		if p >= producers {
			t.Fatalf("item %#x names producer %d of %d", v, p, producers)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got item %d, want %d (lost, duplicated or reordered)", p, i, next[p])
		}
		next[p]++
		got++
	}
	wg.Wait()
	if v, ok := q.Pop(); ok {
		t.Fatalf("extra item %#x after all %d arrived", v, producers*n)
	}
	for p, c := range next {
		if c != n {
			t.Fatalf("producer %d: %d items arrived, want %d", p, c, n)
		}
	}
}

func TestMPSCZeroAllocs(t *testing.T) {
	q := NewMPSC[*int](64)
	x := 42
	allocs := testing.AllocsPerRun(1000, func() {
		q.TryPush(&x)
		if _, ok := q.Pop(); !ok {
			t.Fatal("pop after push failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("TryPush+Pop allocated %.1f times per run, want 0", allocs)
	}
}

func TestMPSCPushedPopped(t *testing.T) {
	q := NewMPSC[int](4)
	if q.Pushed() != 0 || q.Popped() != 0 {
		t.Fatalf("new queue: pushed %d popped %d", q.Pushed(), q.Popped())
	}
	for i := 0; i < 4; i++ {
		q.TryPush(i)
	}
	if q.TryPush(9) {
		t.Fatal("push into a full queue succeeded")
	}
	q.Pop()
	q.Pop()
	if q.Pushed() != 4 || q.Popped() != 2 {
		t.Fatalf("after 4 pushes (one refused) and 2 pops: pushed %d popped %d", q.Pushed(), q.Popped())
	}
}
