package conn_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

// TestDispatchThrottle: a slow dispatcher and a 10 KB dispatch throttle. The
// server must never hold more than the throttle allows in its dispatch queue
// (the sender is pushed back through TCP), and every message arrives in
// order once the dispatcher resumes. The server runs in readiness and in
// io_uring completion mode (where a refused frame cancels the receive and
// the chunks on their way wait in their buffers); large messages make
// those chunks hold more than a read buffer.
func TestDispatchThrottle(t *testing.T) {
	for _, io := range []center.IOMode{center.IOReadiness, center.IOCompletion} {
		t.Run(io.String(), func(t *testing.T) { testDispatchThrottle(t, io) })
	}
}

func testDispatchThrottle(t *testing.T, io center.IOMode) {
	for _, tc := range []struct {
		name string
		opts conn.Options
		pol  gomsgr.Policy
		max  int // messages that may be held at once
		size int
	}{
		{"dispatch bytes", conn.Options{DispatchThrottleBytes: 10_000}, gomsgr.StatelessServer(0), 10, 1000},
		{"policy messages", conn.Options{}, func() gomsgr.Policy { p := gomsgr.StatelessServer(0); p.ThrottleMessages = 4; return p }(), 4, 1000},
		{"policy bytes", conn.Options{}, func() gomsgr.Policy { p := gomsgr.StatelessServer(0); p.ThrottleBytes = 5_000; return p }(), 5, 1000},
		{"large messages", conn.Options{DispatchThrottleBytes: 1_000_000}, gomsgr.StatelessServer(0), 10, 100_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			opts := tc.opts
			opts.Name = gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 3}
			if io == center.IOCompletion {
				opts.Center = center.Config{Driver: "uring", IO: io}
			}
			release := make(chan struct{})
			var got, inflight, peak atomic.Int64
			order := make(chan uint64, 200)
			srv := msgrtest.Serve(t, newMsgr(t, opts), tc.pol, gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
				<-release
				got.Add(1)
				order <- m.Tid
				m.Release()
			}))
			cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 1}}), gomsgr.Policy{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
			const n = 100
			for i := 0; i < n; i++ {
				must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: make([]byte, tc.size)}))
			}
			// While the dispatcher is stuck, watch what the server holds.
			deadline := time.Now().Add(500 * time.Millisecond)
			for time.Now().Before(deadline) {
				q := int64(srv.Dump().DispatchQueue)
				inflight.Store(q)
				if q > peak.Load() {
					peak.Store(q)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if p := peak.Load(); p == 0 || p > int64(tc.max) {
				t.Fatalf("dispatch queue peaked at %d messages, want 1..%d (the throttle's bound)", p, tc.max)
			}
			close(release)
			for i := 0; i < n; i++ {
				select {
				case tid := <-order:
					if tid != uint64(i) {
						t.Fatalf("message %d arrived as tid %d", i, tid)
					}
				case <-ctx.Done():
					t.Fatalf("only %d of %d messages arrived after the dispatcher resumed; server %+v client %+v dthr %d", got.Load(), n, srv.Dump(), cli.Dump(), dthrCur(srv))
				}
			}
			// The budget comes back when Dispatch returns, just after the
			// last tid was handed over: wait for it.
			if dthrMax(srv) > 0 {
				waitFor(t, 10*time.Second, "the dispatch throttle to be empty after everything was dispatched", func() bool { return dthrCur(srv) == 0 })
			}
		})
	}
}
