// Package ring holds the lock-free queues of the event loop.
//
// MPSC is a bounded multi-producer, single-consumer queue: any goroutine may
// push, only the owner of a center.Center pops. It carries external events to
// a worker. SPSC is a bounded single-producer, single-consumer ring for
// hand-offs where one producer is enough.
//
// Both are generic over the element type, allocate only when constructed and
// never lose or duplicate an element. When a queue is full, TryPush returns
// false and leaves the element with the caller: the queue never blocks and
// never grows. Callers choose the policy for the full case (center keeps an
// overflow list and preserves each producer's order).
//
//	q := ring.NewMPSC[int](1024)
//	q.TryPush(7)
//	v, ok := q.Pop() // 7, true
package ring

// pad keeps hot atomics written by different goroutines on different cache
// lines (64 bytes on amd64 and arm64; 128 covers adjacent-line prefetch).
type pad [128]byte

// roundPow2 returns the smallest power of two >= n, and at least 2.
func roundPow2(n int) int {
	if n < 2 {
		return 2
	}
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
