package conn_test

import (
	"context"
	"errors"
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
	srv := startCollector(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 3}, Stack: stack}, got)
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

// TestProcessStack: messengers created with the same options share one
// process-wide stack (Ceph's StackSingleton), each still counts its own
// messages and its workers' busy time, one shutting down leaves the others
// working, and the last one stops the workers. OwnStack opts out.
func TestProcessStack(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := func(typ gomsgr.EntityType, num int64) conn.Options {
		return conn.Options{Name: gomsgr.EntityName{Type: typ, Num: num}, Workers: 2}
	}
	got := make(chan *gomsgr.Message, 64)
	srv := startCollector(t, opts(gomsgr.EntityOSD, 4), got)
	var clis []*conn.Messenger
	for i := range 2 {
		cli, err := conn.NewMessenger(opts(gomsgr.EntityClient, int64(10+i)))
		if err != nil {
			t.Fatal(err)
		}
		must(t, cli.Start())
		clis = append(clis, cli)
	}
	own, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 12}, Workers: 2, OwnStack: true})
	if err != nil {
		t.Fatal(err)
	}
	must(t, own.Start())
	if srv.Stack() != clis[0].Stack() || srv.Stack() != clis[1].Stack() {
		t.Fatal("messengers of one configuration got different stacks")
	}
	if own.Stack() == srv.Stack() {
		t.Fatal("OwnStack shares the process-wide stack")
	}
	send := func(m *conn.Messenger, n int) {
		t.Helper()
		c, err := m.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: make([]byte, 32)}))
		}
		for i := range n {
			select {
			case m := <-got:
				m.Release()
			case <-ctx.Done():
				t.Fatalf("%d of %d messages arrived", i, n)
			}
		}
	}
	send(clis[0], 20)
	send(own, 20)
	count := func(m *conn.Messenger, ctr perf.Counter) uint64 { return m.Perf().Total().Get(ctr) }
	// Counts are published at the end of the worker's busy turn.
	for deadline := time.Now().Add(5 * time.Second); count(clis[0], perf.SendMessages) < 20 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if s := count(clis[0], perf.SendMessages); s != 20 {
		t.Fatalf("client msgr_send_messages %d, want 20 (the other client's are not its own)", s)
	}
	if s := count(clis[1], perf.SendMessages); s != 0 {
		t.Fatalf("idle client msgr_send_messages %d, want 0", s)
	}
	for _, m := range []*conn.Messenger{srv, clis[0]} {
		if d := m.Perf().Total().Time(perf.RunningTotalTime); d <= 0 {
			t.Errorf("%v: msgr_running_total_time %v, want > 0", m.Name(), d)
		}
	}
	must(t, clis[0].Shutdown(ctx))
	must(t, own.Shutdown(ctx))
	send(clis[1], 20) // the stack outlives one of its users
	must(t, clis[1].Shutdown(ctx))
	stack := srv.Stack()
	must(t, srv.Shutdown(ctx))
	if err := stack.Workers()[0].Center().Submit(func() {}); !errors.Is(err, center.ErrClosed) {
		t.Fatalf("after the last messenger's Shutdown, the stack's Submit = %v, want ErrClosed", err)
	}
}

// startCollector starts a messenger bound to a loopback port whose
// dispatcher sends every message to got; the test shuts it down.
func startCollector(t *testing.T, opts conn.Options, got chan<- *gomsgr.Message) *conn.Messenger {
	t.Helper()
	srv, err := conn.NewMessenger(opts)
	if err != nil {
		t.Fatal(err)
	}
	must(t, srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m })))
	if err := srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	must(t, srv.Start())
	return srv
}
