package conn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

func startPair(t *testing.T, driver string, got chan *gomsgr.Message) (srv, cli *conn.Messenger) {
	t.Helper()
	leakcheck.Check(t)
	srv = msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 4}, Workers: 2, Center: centerCfg(driver)}),
		gomsgr.StatelessServer(0), gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
			got <- m
			// The echo may meet a connection that closes as the test ends.
			_ = m.Conn.SendMessage(&gomsgr.Message{Type: m.Type, Front: m.Front})
		}))
	cli = msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 11}, Workers: 2, Center: centerCfg(driver)}),
		gomsgr.LossyClient(0), gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m }))
	return srv, cli
}

func recv(t *testing.T, got chan *gomsgr.Message, n int) []*gomsgr.Message {
	t.Helper()
	var out []*gomsgr.Message
	for len(out) < n {
		select {
		case m := <-got:
			out = append(out, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

// TestAnon (Ceph's AnonTest): anonymous connections are new sessions each
// time, not found by ConnectTo, and work like any other.
func TestAnon(t *testing.T) {
	for _, d := range []string{"epoll", "uring"} {
		t.Run(d, func(t *testing.T) { testAnon(t, d) })
	}
}

func testAnon(t *testing.T, drv string) {
	got := make(chan *gomsgr.Message, 16)
	srv, cli := startPair(t, drv, got)
	addr := srv.Addrs()[0]
	a1, err := cli.ConnectAnon(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := cli.ConnectAnon(gomsgr.EntityOSD, addr)
	named, _ := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if a1 == a2 || gomsgr.Connection(a1) == named || gomsgr.Connection(a2) == named {
		t.Fatal("anonymous connections were shared")
	}
	must(t, a1.SendMessage(&gomsgr.Message{Type: 0x7001, Front: []byte("a1")}))
	must(t, a2.SendMessage(&gomsgr.Message{Type: 0x7001, Front: []byte("a2")}))
	must(t, named.SendMessage(&gomsgr.Message{Type: 0x7001, Front: []byte("n")}))
	recv(t, got, 6) // 3 at the server, 3 echoes at the client
	d := srv.Dump()
	if len(d.Connections) != 3 {
		t.Fatalf("server has %d connections, want 3 sessions", len(d.Connections))
	}
	a1.MarkDown()
	if a2.IsConnected() == false || !named.IsConnected() {
		t.Fatal("marking one anonymous connection down affected the others")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !errors.Is(a1.Err(), gomsgr.ErrMarkedDown) {
		if time.Now().After(deadline) {
			t.Fatalf("Err after MarkDown = %v, want ErrMarkedDown", a1.Err())
		}
		time.Sleep(time.Millisecond)
	}
	if a2.Err() != nil {
		t.Fatalf("Err of an open connection = %v", a2.Err())
	}
}

// TestRebind (from Ceph's SimpleTest): a rebind moves the server to another
// port, avoiding the given ones, with a new nonce; clients reach it there.
func TestRebind(t *testing.T) {
	for _, d := range []string{"epoll", "uring"} {
		t.Run(d, func(t *testing.T) { testRebind(t, d) })
	}
}

func testRebind(t *testing.T, drv string) {
	got := make(chan *gomsgr.Message, 16)
	srv, cli := startPair(t, drv, got)
	old := srv.Addrs()[0]
	must(t, cli.SendTo(&gomsgr.Message{Type: 0x7001, Front: []byte("1")}, gomsgr.EntityOSD, old))
	recv(t, got, 2)
	avoid := []uint16{old.Addr.Port() + 1, old.Addr.Port() + 2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Rebind(ctx, avoid); err != nil {
		t.Fatal(err)
	}
	nu := srv.Addrs()[0]
	if nu.Addr.Port() == old.Addr.Port() || nu.Addr.Port() == avoid[0] || nu.Addr.Port() == avoid[1] || nu.Nonce == old.Nonce {
		t.Fatalf("rebound from %v to %v (avoiding %v)", old, nu, avoid)
	}
	must(t, cli.SendTo(&gomsgr.Message{Type: 0x7001, Front: []byte("2")}, gomsgr.EntityOSD, nu))
	ms := recv(t, got, 2)
	if string(ms[0].Front) != "2" {
		t.Fatalf("after rebind got %q", ms[0].Front)
	}
}
