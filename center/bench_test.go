package center

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWake measures a cross-goroutine wake-up: the benchmark goroutine
// posts an external event and waits for the worker to run it (ns/op is one
// round: post, wake, run, signal back). Sub-benchmarks cover both drivers,
// both wait modes and spin on/off, and a goroutine-to-goroutine channel
// hand-off as the baseline.
//
//	go test ./center -run '^$' -bench Wake -benchtime 20000x -count 5
func BenchmarkWake(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		req, resp := make(chan struct{}), make(chan struct{})
		go func() {
			for range req {
				resp <- struct{}{}
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req <- struct{}{}
			<-resp
		}
		close(req)
	})
	for _, cfg := range modes() {
		for _, spin := range []time.Duration{-1, DefaultSpin} {
			cfg := cfg
			cfg.Spin = spin
			name := modeName(cfg) + "/nospin"
			if spin > 0 {
				name = fmt.Sprintf("%s/spin%v", modeName(cfg), spin)
			}
			b.Run(name, func(b *testing.B) {
				c, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- c.Run() }()
				resp := make(chan struct{}, 1)
				ev := NewEvent(func() { resp <- struct{}{} })
				// Let the worker settle into its wait.
				if err := c.Post(ev); err != nil {
					b.Fatal(err)
				}
				<-resp
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := c.Post(ev); err != nil {
						b.Fatal(err)
					}
					<-resp
				}
				b.StopTimer()
				st := c.Stats()
				b.ReportMetric(float64(st.Sleeps)/float64(b.N), "sleeps/op")
				c.Stop()
				if err := <-done; err != nil {
					b.Errorf("Run: %v", err)
				}
				closeCenter(b, c)
			})
		}
	}
}

// BenchmarkTimerAddCancel arms and cancels an embedded timer on the owner.
func BenchmarkTimerAddCancel(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer closeCenter(b, c)
	timers := make([]Timer, 1024)
	for i := range timers {
		timers[i].Init(func() {})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := &timers[i&1023]
		c.AddTimer(t, time.Duration(1+i%5000)*time.Millisecond)
		c.CancelTimer(t)
	}
}

// BenchmarkTimerExpire arms 1024 timers one tick ahead and expires them: the
// per-timer cost of firing.
func BenchmarkTimerExpire(b *testing.B) {
	var w wheel
	w.init(time.Millisecond, DefaultWheelSlots, 0)
	timers := make([]Timer, 1024)
	for i := range timers {
		timers[i].Init(func() {})
	}
	now := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(timers) {
		for j := range timers {
			w.add(&timers[j], now, time.Millisecond)
		}
		now += int64(time.Millisecond)
		w.expire(now)
	}
}
