package echo

import (
	"context"
	"fmt"
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
		defer closeOK(b, s.Close)
		run(b, s.Addr())
	})
	b.Run("uring-completion", func(b *testing.B) {
		s, err := NewCompletionServer("127.0.0.1:0", CompletionOptions{})
		if err != nil {
			b.Skip(err) // no completion mode in this kernel
		}
		defer closeOK(b, func() error { return s.Close(context.Background()) })
		run(b, s.Addr())
	})
	for _, cfg := range configs() {
		b.Run(name(cfg), func(b *testing.B) {
			s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "echo-bench", Workers: 1, Center: cfg})
			if err != nil {
				b.Fatal(err)
			}
			defer closeOK(b, func() error { return s.Close(context.Background()) })
			run(b, s.Addr())
		})
	}
}

// BenchmarkPipelined: 8 connections × 32 messages in flight against the
// epoll and io_uring event-loop servers (locked worker thread) and the
// completion-mode server, in one run; MB/s is one direction's payload.
// The client runs in this process, on the same CPUs: compare within a run.
//
//	go test ./bench/echo -run '^$' -bench Pipelined -benchtime 20000x -count 5
func BenchmarkPipelined(b *testing.B) {
	servers := []struct {
		name  string
		start func() (addr string, stop func() error, err error)
	}{
		{"epoll-thread", func() (string, func() error, error) {
			s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "echo-bench", Workers: 1, Center: center.Config{Driver: "epoll", Wait: center.WaitThread}})
			if err != nil {
				return "", nil, err
			}
			return s.Addr(), func() error { return s.Close(context.Background()) }, nil
		}},
		{"uring-thread", func() (string, func() error, error) {
			s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "echo-bench", Workers: 1, Center: center.Config{Driver: "uring", Wait: center.WaitThread}})
			if err != nil {
				return "", nil, err
			}
			return s.Addr(), func() error { return s.Close(context.Background()) }, nil
		}},
		{"uring-completion", func() (string, func() error, error) {
			s, err := NewCompletionServer("127.0.0.1:0", CompletionOptions{Buffers: 4096})
			if err != nil {
				return "", nil, err
			}
			return s.Addr(), func() error { return s.Close(context.Background()) }, nil
		}},
	}
	for _, size := range []int{64, 64 << 10} {
		for _, sv := range servers {
			b.Run(fmt.Sprintf("%dB/%s", size, sv.name), func(b *testing.B) {
				addr, stop, err := sv.start()
				if err != nil {
					b.Skip(err)
				}
				defer closeOK(b, stop)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				b.SetBytes(int64(size))
				b.ResetTimer()
				if err := Pipeline(ctx, addr, 8, 32, size, b.N); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// closeOK runs a server's close at the end of a benchmark and fails the
// benchmark if it fails.
func closeOK(b *testing.B, close func() error) {
	if err := close(); err != nil {
		b.Errorf("close server: %v", err)
	}
}
