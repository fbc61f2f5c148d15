package conn_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/perf"
)

// TestSharedStack runs two messengers on one center.Stack (Ceph's
// process-wide NetworkStack): messages flow, the counters count them
// (published per handler run, since the loop's turn hook belongs to the
// stack's owner, not to the messengers), and shutting the messengers down
// leaves the stack running for its owner to stop.
func TestSharedStack(t *testing.T) {
	leakcheck.Check(t)
	stack, err := center.NewStack(center.StackConfig{Name: "shared", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan *gomsgr.Message, 64)
	srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 3}, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	must(t, srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m })))
	if err := srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	must(t, srv.Start())
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 3}, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.Start())
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: make([]byte, 32)}))
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-got:
			if m.Tid != uint64(i) {
				t.Fatalf("message %d has tid %d", i, m.Tid)
			}
			m.Release()
		case <-ctx.Done():
			t.Fatalf("%d of %d messages arrived", i, n)
		}
	}
	count := func(m *conn.Messenger, ctr perf.Counter) uint64 { return m.Perf().Total().Get(ctr) }
	for deadline := time.Now().Add(5 * time.Second); (count(srv, perf.RecvMessages) < n || count(cli, perf.SendMessages) < n) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if r, s := count(srv, perf.RecvMessages), count(cli, perf.SendMessages); r != n || s != n {
		t.Fatalf("server msgr_recv_messages %d, client msgr_send_messages %d; want %d", r, s, n)
	}
	if b := count(srv, perf.RecvBytes); b != n*32 {
		t.Fatalf("server msgr_recv_bytes %d, want %d", b, n*32)
	}
	if err := cli.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The stack is the caller's: still running after both messengers.
	if err := stack.Workers()[0].Center().SubmitWait(ctx, func() {}); err != nil {
		t.Fatalf("stack stopped with the messengers: %v", err)
	}
	if err := stack.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
