package ring

import (
	"runtime"
	"testing"
)

func TestSPSCFIFO(t *testing.T) {
	q := NewSPSC[string](3)
	if q.Cap() != 4 {
		t.Fatalf("Cap = %d, want 4", q.Cap())
	}
	for lap := 0; lap < 3; lap++ {
		for _, s := range []string{"a", "b", "c", "d"} {
			if !q.TryPush(s) {
				t.Fatalf("lap %d: push %q refused", lap, s)
			}
		}
		if q.TryPush("e") {
			t.Fatal("push into a full ring succeeded")
		}
		for _, want := range []string{"a", "b", "c", "d"} {
			if got, ok := q.Pop(); !ok || got != want {
				t.Fatalf("lap %d: Pop = %q, %v; want %q", lap, got, ok, want)
			}
		}
		if _, ok := q.Pop(); ok {
			t.Fatal("Pop on empty ring succeeded")
		}
	}
}

func TestSPSCStress(t *testing.T) {
	n := stressItems() * 4
	q := NewSPSC[int](128)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			for !q.TryPush(i) {
				runtime.Gosched()
			}
		}
	}()
	for want := 0; want < n; {
		v, ok := q.Pop()
		if !ok {
			runtime.Gosched()
			continue
		}
		if v != want {
			t.Fatalf("got %d, want %d", v, want)
		}
		want++
	}
	<-done
	if v, ok := q.Pop(); ok {
		t.Fatalf("extra item %d", v)
	}
}

func TestSPSCZeroAllocs(t *testing.T) {
	q := NewSPSC[int](64)
	allocs := testing.AllocsPerRun(1000, func() {
		q.TryPush(1)
		q.Pop()
	})
	if allocs != 0 {
		t.Fatalf("TryPush+Pop allocated %.1f times per run, want 0", allocs)
	}
}
