package perfmsgr

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// TestRun runs a short workload on every implementation and checks that
// every request was answered and the figures are consistent.
func TestRun(t *testing.T) {
	for _, impl := range Impls {
		t.Run(impl, func(t *testing.T) {
			leakcheck.Check(t)
			cfg := Config{Impl: impl, Workers: 2}
			srv, err := StartServer(cfg, netip.MustParseAddrPort("127.0.0.1:0"), 0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			defer shutdown(t, srv, ctx)
			var last int64
			res, err := Run(ctx, cfg, srv.Addr(), Load{Jobs: 2, Concurrency: 4, Size: 512, Ops: 2000}, func(n int64) { last = n })
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != 2000 || last != 2000 {
				t.Fatalf("%d ops recorded, %d reported done, want 2000", res.Ops, last)
			}
			if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.Max || res.OpsPerS <= 0 {
				t.Fatalf("inconsistent figures: %v", res)
			}
		})
	}
}

// TestDurationAndThink runs for a duration with server and client think
// times and checks that requests completed at the pace the think times allow.
func TestDurationAndThink(t *testing.T) {
	leakcheck.Check(t)
	cfg := Config{Impl: "epoll", Workers: 1}
	srv, err := StartServer(cfg, netip.MustParseAddrPort("127.0.0.1:0"), 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer shutdown(t, srv, ctx)
	res, err := Run(ctx, cfg, srv.Addr(), Load{Jobs: 1, Concurrency: 1, Size: 64, Duration: 300 * time.Millisecond, Think: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each round trip takes at least 2ms (server think): at most 150 in 300ms.
	if res.Ops == 0 || res.Ops > 150 || res.P50 < 2*time.Millisecond {
		t.Fatalf("with 2ms server think time: %v", res)
	}
}

// shutdown stops srv at the end of a test and fails the test if it fails.
func shutdown(t *testing.T, srv *Server, ctx context.Context) {
	t.Helper()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
}
