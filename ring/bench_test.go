package ring

import (
	"runtime"
	"sync"
	"testing"
)

// The benchmarks compare the rings with the two queues a Go programmer would
// otherwise reach for: a mutex around a slice and a buffered channel.
// "Single" is one goroutine pushing and popping; "Contended" has
// GOMAXPROCS producers and one consumer, reporting ns per item.

type mutexQueue struct {
	mu    sync.Mutex
	items []uint64
	head  int
}

func (q *mutexQueue) push(v uint64) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
}

func (q *mutexQueue) pop() (uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return 0, false
	}
	v := q.items[q.head]
	q.head++
	return v, true
}

func BenchmarkSingle(b *testing.B) {
	b.Run("MPSC", func(b *testing.B) {
		q := NewMPSC[uint64](1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			q.TryPush(uint64(i))
			q.Pop()
		}
	})
	b.Run("SPSC", func(b *testing.B) {
		q := NewSPSC[uint64](1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			q.TryPush(uint64(i))
			q.Pop()
		}
	})
	b.Run("Mutex", func(b *testing.B) {
		q := &mutexQueue{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			q.push(uint64(i))
			q.pop()
		}
	})
	b.Run("Chan", func(b *testing.B) {
		q := make(chan uint64, 1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			q <- uint64(i)
			<-q
		}
	})
}

// contended runs producers pushing b.N items in total against one consumer
// popping them all.
func contended(b *testing.B, push func(uint64) bool, pop func() (uint64, bool)) {
	producers := runtime.GOMAXPROCS(0)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/producers + 1
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				for !push(uint64(i)) {
					runtime.Gosched()
				}
			}
		}()
	}
	for got := 0; got < per*producers; {
		if _, ok := pop(); ok {
			got++
		} else {
			runtime.Gosched()
		}
	}
	wg.Wait()
}

func BenchmarkContended(b *testing.B) {
	b.Run("MPSC", func(b *testing.B) {
		q := NewMPSC[uint64](4096)
		contended(b, q.TryPush, q.Pop)
	})
	b.Run("Mutex", func(b *testing.B) {
		q := &mutexQueue{}
		contended(b, func(v uint64) bool { q.push(v); return true }, q.pop)
	})
	b.Run("Chan", func(b *testing.B) {
		q := make(chan uint64, 4096)
		contended(b, func(v uint64) bool { q <- v; return true }, func() (uint64, bool) {
			select {
			case v := <-q:
				return v, true
			default:
				return 0, false
			}
		})
	})
}
