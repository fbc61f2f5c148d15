package echo

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// configs is every event-loop configuration the echo server is tested and
// benchmarked with.
func configs() []center.Config {
	var out []center.Config
	for _, d := range driver.Names() {
		for _, w := range []center.WaitMode{center.WaitPoller, center.WaitThread} {
			for _, spin := range []time.Duration{-1, center.DefaultSpin} {
				out = append(out, center.Config{Driver: d, Wait: w, Spin: spin})
			}
		}
	}
	return out
}

func TestEchoServers(t *testing.T) {
	for _, cfg := range configs() {
		for _, opts := range []ServerOptions{{}, {SharedReadBuffer: true, Backlog: 4096}} {
			n := name(cfg)
			if opts.SharedReadBuffer {
				n += "/shared"
			}
			t.Run(n, func(t *testing.T) {
				leakcheck.Check(t)
				s, err := NewServerWith("127.0.0.1:0", center.StackConfig{Name: "echo-test", Workers: 2, Center: cfg}, opts)
				if err != nil {
					t.Fatal(err)
				}
				exercise(t, s.Addr())
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Close(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	t.Run("std", func(t *testing.T) {
		leakcheck.Check(t)
		s, err := NewStdServer("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, s.Addr())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// exercise runs 8 concurrent clients with small and large messages (large
// ones exceed the socket buffers, so the server must handle EAGAIN on write).
func exercise(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		size := 64
		if i%2 == 1 {
			size = 1 << 20
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtts := make([]time.Duration, 20)
			if err := PingPong(ctx, addr, size, rtts); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestPercentile(t *testing.T) {
	r := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if p := Percentile(r, 50); p != 5 {
		t.Fatalf("p50 = %v, want 5", p)
	}
	if p := Percentile(r, 99); p != 10 {
		t.Fatalf("p99 = %v, want 10", p)
	}
	if p := Percentile(r, 10); p != 1 {
		t.Fatalf("p10 = %v, want 1", p)
	}
}
