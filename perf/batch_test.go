package perf

import "testing"

func TestBatch(t *testing.T) {
	w := NewSet("x").AddWorker()
	b := w.NewBatch()
	b.Inc(RecvMessages)
	b.Add(RecvBytes, 100)
	b.Add(RecvBytes, 20)
	b.Inc(SendMessages)
	if n := w.Snapshot().Get(RecvMessages); n != 0 {
		t.Fatalf("counted before Flush: %d", n)
	}
	b.Flush()
	s := w.Snapshot()
	if s.Get(RecvMessages) != 1 || s.Get(RecvBytes) != 120 || s.Get(SendMessages) != 1 || s.Get(SendBytes) != 0 {
		t.Fatalf("after Flush: recv %d/%d send %d/%d", s.Get(RecvMessages), s.Get(RecvBytes), s.Get(SendMessages), s.Get(SendBytes))
	}
	b.Flush() // nothing gathered: nothing added
	b.Add(RecvBytes, 5)
	b.Flush()
	if n := w.Snapshot().Get(RecvBytes); n != 125 {
		t.Fatalf("recv bytes = %d, want 125", n)
	}
	var nb *Batch
	nb.Inc(RecvMessages) // a nil Batch ignores updates
	nb.Flush()
	if a := testing.AllocsPerRun(100, func() { b.Inc(RecvMessages); b.Add(RecvBytes, 64); b.Flush() }); a != 0 {
		t.Fatalf("%v allocations per update and flush", a)
	}
}

func BenchmarkBatch(b *testing.B) {
	w := NewSet("x").AddWorker()
	bt := w.NewBatch()
	for b.Loop() {
		for range 8 {
			bt.Inc(RecvMessages)
			bt.Add(RecvBytes, 64)
		}
		bt.Flush()
	}
}
