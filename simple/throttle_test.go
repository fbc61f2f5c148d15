package simple_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/simple"
)

// gate is a slow dispatcher that holds every message until opened.
type gate struct {
	open chan struct{}
	got  chan uint64
}

func (g *gate) Dispatch(m *gomsgr.Message) bool {
	<-g.open
	g.got <- m.Tid
	m.Release()
	return true
}

// gatedPair starts osd.0 with options o, policy pol and a gate as its
// dispatcher, and a lossy client; it returns the server, the gate and the
// client's connection to the server.
func gatedPair(t *testing.T, o simple.Options, pol gomsgr.Policy) (*simple.Messenger, *gate, gomsgr.Connection) {
	t.Helper()
	o.Name = osd0
	g := &gate{open: make(chan struct{}), got: make(chan uint64, 10)}
	srv := msgrtest.Serve(t, newMsgr(t, o), pol, g)
	cli := msgrtest.Start(t, newMsgr(t, simple.Options{Name: client1}), gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return srv, g, c
}

func TestThrottles(t *testing.T) {
	cases := []struct {
		name   string
		opts   simple.Options
		pol    func(gomsgr.Policy) gomsgr.Policy
		inside uint64 // messages that fit while the dispatcher is stuck
	}{
		{"policy messages", simple.Options{}, func(p gomsgr.Policy) gomsgr.Policy { p.ThrottleMessages = 2; return p }, 2},
		// 1000-byte messages are over a quarter of these throttles: the
		// share rule (its own test is in msgrtest) is off, so that they
		// fill the throttle as Ceph's rule lets them.
		{"policy bytes", simple.Options{ThrottleShare: -1}, func(p gomsgr.Policy) gomsgr.Policy { p.ThrottleBytes = 3000; return p }, 3},
		{"dispatch bytes", simple.Options{DispatchThrottleBytes: 2000, ThrottleShare: -1}, func(p gomsgr.Policy) gomsgr.Policy { return p }, 2},
		{"policy bytes, share 1/4", simple.Options{}, func(p gomsgr.Policy) gomsgr.Policy { p.ThrottleBytes = 3000; return p }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			srv, g, c := gatedPair(t, tc.opts, tc.pol(gomsgr.StatelessServer(0)))
			for i := range 10 {
				must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: make([]byte, 1000)}))
			}
			recv := func() uint64 { return srv.Perf().Total().Get(perf.RecvMessages) }
			deadline := time.Now().Add(10 * time.Second)
			for recv() < tc.inside && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			// The reader must now be waiting for budget: nothing more
			// arrives while the dispatcher is stuck.
			time.Sleep(100 * time.Millisecond)
			if n := recv(); n != tc.inside {
				t.Fatalf("received %d messages while the dispatcher was stuck, want %d (the throttle's room)", n, tc.inside)
			}
			close(g.open)
			for i := range 10 {
				select {
				case tid := <-g.got:
					if tid != uint64(i) {
						t.Fatalf("message %d dispatched as tid %d", i, tid)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("only %d of 10 messages dispatched after the throttle opened", i)
				}
			}
			// The budget comes back once Dispatch returns.
			deadline = time.Now().Add(10 * time.Second)
			for dthrCur(srv) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("dispatch throttle holds %d bytes after everything was dispatched", dthrCur(srv))
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// TestThrottleWaitEndsOnShutdown: a reader waiting for budget does not
// keep Shutdown waiting.
func TestThrottleWaitEndsOnShutdown(t *testing.T) {
	leakcheck.Check(t)
	pol := gomsgr.StatelessServer(0)
	pol.ThrottleMessages = 1
	srv, g, c := gatedPair(t, simple.Options{}, pol)
	for i := range 3 {
		must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i)}))
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the first message", func() bool { return srv.Perf().Total().Get(perf.RecvMessages) >= 1 })
	// The dispatcher is stuck on message 0 and the reader waits for
	// budget. MarkDownAll must end that wait.
	waitStack(t, "msgrbase.(*Throttle).Get", true)
	srv.MarkDownAll()
	waitStack(t, "msgrbase.(*Throttle).Get", false)
	close(g.open)
	shutdownCtx(t, srv)
}

// waitStack waits until some goroutine's stack has fn in it (present) or
// none has (!present).
func waitStack(t *testing.T, fn string, present bool) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.Stack(buf, true)
		if strings.Contains(string(buf[:n]), fn) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, a goroutine in %s: %v, want %v", fn, !present, present)
		}
		time.Sleep(time.Millisecond)
	}
}
