package perf

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestCephNames pins every counter's Ceph name and kind, in Ceph's enum
// order (src/msg/async/Stack.h).
func TestCephNames(t *testing.T) {
	want := []struct {
		name string
		kind Kind
	}{
		{"msgr_recv_messages", KindCounter},
		{"msgr_send_messages", KindCounter},
		{"msgr_recv_bytes", KindCounter},
		{"msgr_send_bytes", KindCounter},
		{"msgr_created_connections", KindCounter},
		{"msgr_active_connections", KindGauge},
		{"msgr_running_total_time", KindTime},
		{"msgr_running_send_time", KindTime},
		{"msgr_running_recv_time", KindTime},
		{"msgr_running_fast_dispatch_time", KindTime},
		{"msgr_send_messages_queue_lat", KindTimeAvg},
		{"msgr_handle_ack_lat", KindTimeAvg},
		{"msgr_recv_encrypted_bytes", KindCounter},
		{"msgr_send_encrypted_bytes", KindCounter},
		{"msgr_connection_ready_timeouts", KindCounter},
		{"msgr_connection_idle_timeouts", KindCounter},
		{"msgr_connection_stalls", KindCounter},
		{"msgr_handshakes_refused", KindCounter},
	}
	if len(want) != int(NumCounters) {
		t.Fatalf("NumCounters = %d, want %d", NumCounters, len(want))
	}
	for i, c := range AllCounters() {
		if c.Name() != want[i].name || c.Kind() != want[i].kind {
			t.Errorf("counter %d = %s/%s, want %s/%s", i, c.Name(), c.Kind(), want[i].name, want[i].kind)
		}
		if c.Desc().Help == "" {
			t.Errorf("%s has no help", c)
		}
	}
	if got := Counter(200).String(); got != "Counter(200)" {
		t.Errorf("invalid counter String = %q", got)
	}
	if got := Kind(9).String(); got != "Kind(9)" {
		t.Errorf("invalid kind String = %q", got)
	}
}

func TestCountersUpdate(t *testing.T) {
	s := NewSet("test")
	w := s.AddWorker()
	w.Inc(RecvMessages)
	w.Add(RecvBytes, 100)
	w.Inc(ActiveConnections)
	w.Inc(ActiveConnections)
	w.Dec(ActiveConnections)
	w.AddTime(RunningTotalTime, 3*time.Millisecond)
	w.AddTime(RunningTotalTime, -time.Second) // counts as zero
	w.AddTime(SendMessagesQueueLat, 10*time.Microsecond)
	w.AddTime(SendMessagesQueueLat, 30*time.Microsecond)
	w.Since(HandleAckLat, time.Now())

	snap := w.Snapshot()
	if got := snap.Get(RecvMessages); got != 1 {
		t.Errorf("recv messages = %d, want 1", got)
	}
	if got := snap.Get(RecvBytes); got != 100 {
		t.Errorf("recv bytes = %d, want 100", got)
	}
	if got := snap.Gauge(ActiveConnections); got != 1 {
		t.Errorf("active connections = %d, want 1", got)
	}
	if got := snap.Time(RunningTotalTime); got != 3*time.Millisecond {
		t.Errorf("running total time = %v, want 3ms", got)
	}
	if got := snap.Avg(SendMessagesQueueLat); got.Count != 2 || got.Sum != 40*time.Microsecond || got.Mean() != 20*time.Microsecond {
		t.Errorf("queue lat = %+v (mean %v), want 2 observations of 40µs, mean 20µs", got, got.Mean())
	}
	if got := snap.Avg(HandleAckLat).Count; got != 1 {
		t.Errorf("ack lat count = %d, want 1", got)
	}
	if got := (Avg{}).Mean(); got != 0 {
		t.Errorf("empty Avg mean = %v", got)
	}
	if h := w.Histogram(SendMessagesQueueLat).Snapshot(); h.Count != 2 || h.Max < 29*time.Microsecond || h.Max > 31*time.Microsecond {
		t.Errorf("queue lat histogram = %+v, want 2 values, max ≈30µs", h)
	}
	if w.Histogram(RecvBytes) != nil || w.Histogram(NumCounters) != nil {
		t.Error("histogram for a non-latency counter")
	}
	w.SetGauge(ActiveConnections, 7)
	if got := w.Snapshot().Gauge(ActiveConnections); got != 7 {
		t.Errorf("SetGauge: %d, want 7", got)
	}
}

func TestSetWorkers(t *testing.T) {
	s := NewSet("osd.0", WithoutHistograms())
	w0, w1 := s.AddWorker(), s.AddWorker()
	if w0.ID() != 0 || w1.ID() != 1 || w1.LoggerName() != "AsyncMessenger::Worker-1" || w1.Messenger() != "osd.0" {
		t.Fatalf("workers: %d %d %q %q", w0.ID(), w1.ID(), w1.LoggerName(), w1.Messenger())
	}
	if w0.Histogram(SendMessagesQueueLat) != nil {
		t.Error("WithoutHistograms gave a histogram")
	}
	// A connection opened on worker 0 and closed on worker 1 sums to zero.
	w0.Inc(ActiveConnections)
	w1.Dec(ActiveConnections)
	w0.AddTime(HandleAckLat, time.Millisecond)
	w1.AddTime(HandleAckLat, 3*time.Millisecond)
	tot := s.Total()
	if got := tot.Gauge(ActiveConnections); got != 0 {
		t.Errorf("total active = %d, want 0", got)
	}
	if got := tot.Avg(HandleAckLat); got.Count != 2 || got.Mean() != 2*time.Millisecond {
		t.Errorf("total ack lat = %+v, want 2 averaging 2ms", got)
	}
	if s.Histogram(HandleAckLat) != nil {
		t.Error("merged histogram without histograms")
	}
	if got := s.Percentiles(HandleAckLat); got != (HistogramSnapshot{}) {
		t.Errorf("percentiles without histograms = %+v", got)
	}
}

func TestSetWorkerByID(t *testing.T) {
	s := NewSet("osd.1")
	w2 := s.Worker(2)
	if w2.ID() != 2 || len(s.Workers()) != 3 {
		t.Fatalf("Worker(2): id %d, %d workers; want id 2 of 3", w2.ID(), len(s.Workers()))
	}
	if s.Worker(2) != w2 || s.Worker(0) != s.Workers()[0] {
		t.Error("Worker(id) is not stable")
	}
	if w := s.AddWorker(); w.ID() != 3 {
		t.Errorf("AddWorker after Worker(2) gave id %d, want 3", w.ID())
	}
	if s.Worker(0).Histogram(HandleAckLat) == nil {
		t.Error("worker made by Worker(id) has no histogram")
	}
}

func TestProfileLabels(t *testing.T) {
	w := NewSet("mon.a").AddWorker()
	var got map[string]string
	w.Do(context.Background(), func(ctx context.Context) {
		got = map[string]string{}
		pprof.ForLabels(ctx, func(k, v string) bool { got[k] = v; return true })
	})
	if got["gomsgr.stack"] != "mon.a" || got["gomsgr.worker"] != "0" {
		t.Errorf("labels = %v, want gomsgr.stack=mon.a gomsgr.worker=0", got)
	}
}

// TestConcurrentWorkersAndReader runs one writer per worker while a reader
// aggregates. Under -race it checks there is no unsynchronized access; it
// also checks every average the reader sees is consistent (each observation
// is exactly 1µs, so sum = count µs) and that totals only grow.
func TestConcurrentWorkersAndReader(t *testing.T) {
	const workers, perWorker = 4, 20000
	s := NewSet("race")
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := s.Worker(i) // registers concurrently with the reader
			for range perWorker {
				w.Inc(SendMessages)
				w.Add(SendBytes, 10)
				w.Inc(ActiveConnections)
				w.AddTime(SendMessagesQueueLat, time.Microsecond)
				w.Dec(ActiveConnections)
			}
		}()
	}
	readerErr := make(chan string, 1)
	go func() {
		var last uint64
		for !done.Load() {
			tot := s.Total()
			a := tot.Avg(SendMessagesQueueLat)
			if a.Sum != time.Duration(a.Count)*time.Microsecond {
				readerErr <- "inconsistent average: " + a.Sum.String() + " for " + time.Duration(a.Count).String() + " observations"
				return
			}
			if n := tot.Get(SendMessages); n < last {
				readerErr <- "total went down"
				return
			} else {
				last = n
			}
			_ = s.Percentiles(SendMessagesQueueLat)
		}
		readerErr <- ""
	}()
	wg.Wait()
	done.Store(true)
	if msg := <-readerErr; msg != "" {
		t.Fatal(msg)
	}
	tot := s.Total()
	if got, want := tot.Get(SendMessages), uint64(workers*perWorker); got != want {
		t.Errorf("send messages = %d, want %d", got, want)
	}
	if got, want := tot.Get(SendBytes), uint64(10*workers*perWorker); got != want {
		t.Errorf("send bytes = %d, want %d", got, want)
	}
	if got := tot.Gauge(ActiveConnections); got != 0 {
		t.Errorf("active = %d, want 0", got)
	}
	if got, want := s.Percentiles(SendMessagesQueueLat).Count, int64(workers*perWorker); got != want {
		t.Errorf("histogram count = %d, want %d", got, want)
	}
}

// TestPadding checks that the counters sit a cache line away from whatever
// the allocator puts before or after a Counters.
func TestPadding(t *testing.T) {
	var w Counters
	start := unsafe.Offsetof(w.slots)
	end := start + unsafe.Sizeof(w.slots)
	if start < 64 || unsafe.Sizeof(w)-end < 64 {
		t.Errorf("slots at [%d, %d) of %d bytes: want 64 bytes of padding each side", start, end, unsafe.Sizeof(w))
	}
}

// TestZeroAllocs proves the writer's hot path does not allocate.
func TestZeroAllocs(t *testing.T) {
	s := NewSet("allocs")
	w := s.AddWorker()
	th := s.AddThrottle("t", 100)
	h := NewHistogram(DefaultHistogramOptions)
	start := time.Now()
	for name, f := range map[string]func(){
		"Inc":             func() { w.Inc(RecvMessages) },
		"Add":             func() { w.Add(RecvBytes, 4096) },
		"Dec":             func() { w.Dec(ActiveConnections) },
		"AddTime/time":    func() { w.AddTime(RunningSendTime, time.Microsecond) },
		"AddTime/avg":     func() { w.AddTime(SendMessagesQueueLat, 3*time.Microsecond) },
		"Since":           func() { w.Since(HandleAckLat, start) },
		"Histogram":       func() { h.Record(42 * time.Microsecond) },
		"Throttle/get":    func() { th.RecordGet(1, 1) },
		"Throttle/wait":   func() { th.RecordWait(time.Millisecond) },
		"Throttle/put":    func() { th.RecordPut(1, 0) },
		"Throttle/gofail": func() { th.RecordGetOrFail(false, 1, 1) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}
