package conn_test

import (
	"context"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// TestManyConnections opens thousands of sessions at once (anonymous, one
// messenger) and sends one message on each: every handshake must finish and
// every echo arrive. It found the center losing events when a handler grew
// the fd table during dispatch.
func TestManyConnections(t *testing.T) {
	n := 3000
	if raceEnabled {
		n = 800
	}
	if os.Getenv("GOMSGR_STRESS") != "" {
		// GOMSGR_STRESS=1: the larger setting, 10,000 sessions, within the
		// fd limit (both ends live in this process).
		n = 10_000
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < uint64(2*n+500) {
			rl.Cur = min(rl.Max, uint64(2*n+500))
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
				t.Fatalf("raising RLIMIT_NOFILE to %d: %v", rl.Cur, err)
			}
			n = min(n, int(rl.Cur-500)/2)
		}
	}
	for _, d := range []string{"epoll", "uring"} {
		t.Run(d, func(t *testing.T) {
			leakcheck.Check(t)
			srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}, Workers: 2, Center: centerCfg(d)})
			if err != nil {
				t.Fatal(err)
			}
			must(t, srv.SetDefaultPolicy(gomsgr.StatelessServer(0)))
			must(t, srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
				// The echo may meet a connection that closes as the test ends.
				_ = m.Conn.SendMessage(&gomsgr.Message{Type: m.Type, Tid: m.Tid})
			})))
			must(t, srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
			must(t, srv.Start())
			var got atomic.Int64
			cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 1}, Workers: 2, Center: centerCfg(d)})
			must(t, cli.SetDefaultPolicy(gomsgr.LossyClient(0)))
			must(t, cli.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got.Add(1) })))
			must(t, cli.Start())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			defer shutdown(ctx, t, srv)
			defer shutdown(ctx, t, cli)
			var cs []*conn.Connection
			for i := 0; i < n; i++ {
				c, err := cli.ConnectAnon(gomsgr.EntityOSD, srv.Addrs()[0])
				if err != nil {
					t.Fatal(err)
				}
				must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i)}))
				cs = append(cs, c)
			}
			for got.Load() < int64(n) {
				if ctx.Err() != nil {
					failed := map[string]int{}
					for _, c := range cs {
						if c.Err() != nil {
							failed[c.Err().Error()]++
						}
					}
					t.Fatalf("%d of %d echoes; failed connections: %v", got.Load(), n, failed)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
