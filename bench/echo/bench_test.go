package echo

import (
	"context"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/center"
)

// BenchmarkPingPong measures one connection's 64-byte ping-pong round trip
// against the event-loop echo server in every configuration and against the
// standard library's goroutine-per-connection server, in the same run. It
// reports p50 and p99 round trips in ns (ns/op is the mean).
//
//	go test ./bench/echo -run '^$' -bench PingPong -benchtime 20000x -count 5
func BenchmarkPingPong(b *testing.B) {
	const size = 64
	run := func(b *testing.B, addr string) {
		rtts := make([]time.Duration, b.N)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b.ResetTimer()
		if err := PingPong(ctx, addr, size, rtts); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(Percentile(rtts, 50)), "p50-ns")
		b.ReportMetric(float64(Percentile(rtts, 99)), "p99-ns")
	}
	b.Run("std", func(b *testing.B) {
		s, err := NewStdServer("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s.Addr())
	})
	b.Run("uring-completion", func(b *testing.B) {
		s, err := NewCompletionServer("127.0.0.1:0", CompletionOptions{})
		if err != nil {
			b.Skip(err) // no completion mode in this kernel
		}
		defer s.Close(context.Background())
		run(b, s.Addr())
	})
	for _, cfg := range configs() {
		b.Run(name(cfg), func(b *testing.B) {
			s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "echo-bench", Workers: 1, Center: cfg})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			run(b, s.Addr())
		})
	}
}
