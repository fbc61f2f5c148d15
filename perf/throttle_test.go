package perf

import (
	"sync"
	"testing"
	"time"
)

func TestThrottleCounters(t *testing.T) {
	th := NewThrottle("bytes", 100)
	if th.Name() != "bytes" || th.LoggerName() != "throttle-bytes" {
		t.Errorf("names = %q %q", th.Name(), th.LoggerName())
	}
	th.Lock()
	th.RecordGetStarted()
	th.RecordGet(10, 10)
	th.RecordGetOrFail(true, 5, 15)
	th.RecordGetOrFail(false, 500, 15)
	th.RecordTake(3, 18)
	th.RecordPut(8, 10)
	th.RecordWait(4 * time.Millisecond)
	th.RecordWait(-time.Second)
	th.SetMax(200)
	th.Unlock()
	got := th.Snapshot()
	want := ThrottleSnapshot{
		Val: 10, Max: 200, GetStarted: 1, Get: 2, GetSum: 15, GetOrFailFail: 1,
		GetOrFailSuccess: 1, Take: 1, TakeSum: 3, Put: 1, PutSum: 8,
		Wait: Avg{Count: 2, Sum: 4 * time.Millisecond},
	}
	if got != want {
		t.Errorf("snapshot\n got %+v\nwant %+v", got, want)
	}
	th.Lock()
	th.SetVal(0)
	th.Unlock()
	if v := th.Snapshot().Val; v != 0 {
		t.Errorf("val after SetVal(0) = %d", v)
	}
}

// TestThrottleConcurrent updates one throttle from several goroutines, as a
// shared throttle is, while a reader checks the wait average stays
// consistent.
func TestThrottleConcurrent(t *testing.T) {
	th := NewSet("x").AddThrottle("t", 10)
	const g, n = 4, 5000
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				th.Lock()
				th.RecordGet(2, 2)
				th.RecordWait(time.Microsecond)
				th.Unlock()
				th.Lock()
				th.RecordPut(2, 0)
				th.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	bad := make(chan Avg, 1)
	go func() {
		defer close(bad)
		for {
			select {
			case <-done:
				return
			default:
			}
			if w := th.Snapshot().Wait; w.Sum != time.Duration(w.Count)*time.Microsecond {
				bad <- w
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if w, ok := <-bad; ok {
		t.Fatalf("inconsistent wait average %+v", w)
	}
	s := th.Snapshot()
	if s.Get != g*n || s.GetSum != 2*g*n || s.PutSum != 2*g*n || s.Wait.Count != g*n {
		t.Errorf("snapshot %+v, want %d gets and puts of 2 and %d waits", s, g*n, g*n)
	}
}
