package perf

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/cpu"
)

func BenchmarkInc(b *testing.B) {
	w := NewSet("bench").AddWorker()
	b.ReportAllocs()
	for b.Loop() {
		w.Inc(SendMessages)
	}
}

func BenchmarkAddTime(b *testing.B) {
	w := NewSet("bench").AddWorker()
	b.ReportAllocs()
	for b.Loop() {
		w.AddTime(RunningSendTime, time.Microsecond)
	}
}

// BenchmarkAddTimeAvg is one latency observation: count, sum, histogram.
func BenchmarkAddTimeAvg(b *testing.B) {
	w := NewSet("bench").AddWorker()
	b.ReportAllocs()
	for b.Loop() {
		w.AddTime(SendMessagesQueueLat, 1234*time.Nanosecond)
	}
}

func BenchmarkAddTimeAvgNoHistogram(b *testing.B) {
	w := NewSet("bench", WithoutHistograms()).AddWorker()
	b.ReportAllocs()
	for b.Loop() {
		w.AddTime(SendMessagesQueueLat, 1234*time.Nanosecond)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram(DefaultHistogramOptions)
	b.ReportAllocs()
	var d time.Duration
	for b.Loop() {
		d = (d + 977) & (1<<24 - 1)
		h.Record(d)
	}
}

// BenchmarkCounting compares one atomic counter shared by every goroutine
// (what a global counter would be) with a Counters per goroutine (what a
// worker gets). Run with -cpu 1,2 to see the cost of contention.
func BenchmarkCounting(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		var shared struct {
			_ cpu.CacheLinePad
			n atomic.Uint64
			_ cpu.CacheLinePad
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				shared.n.Add(1)
			}
		})
	})
	// Per-goroutine counters packed into one cache line: no shared counter,
	// but the line still bounces between cores (false sharing), which the
	// padding around Counters' slots avoids.
	b.Run("false-sharing", func(b *testing.B) {
		var packed [8]atomic.Uint64
		var next atomic.Int32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			n := &packed[next.Add(1)%8]
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("per-worker", func(b *testing.B) {
		set := NewSet("bench", WithoutHistograms())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := set.AddWorker()
			for pb.Next() {
				w.Inc(SendMessages)
			}
		})
	})
}

func BenchmarkSnapshotTotal(b *testing.B) {
	set := NewSet("bench", WithoutHistograms())
	for range 4 {
		set.AddWorker().Inc(SendMessages)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = set.Total()
	}
}
