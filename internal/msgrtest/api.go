package msgrtest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
)

// testConfigFixed: AddDispatcher, SetPolicy and SetDefaultPolicy after
// Start return ErrStarted (the delivery paths read the chain without a
// lock), and succeed before.
func testConfigFixed(t *testing.T, newMsgr Factory) {
	m := newMsgr(t, Config{Name: osd0})
	d := gomsgr.DispatcherFunc(func(*gomsgr.Message) {})
	if err := m.AddDispatcher(d); err != nil {
		t.Fatalf("AddDispatcher before Start: %v", err)
	}
	if err := m.SetPolicy(gomsgr.EntityClient, gomsgr.StatelessServer(0)); err != nil {
		t.Fatalf("SetPolicy before Start: %v", err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, m) })
	for name, err := range map[string]error{
		"AddDispatcher":    m.AddDispatcher(d),
		"SetPolicy":        m.SetPolicy(gomsgr.EntityOSD, gomsgr.LossyClient(0)),
		"SetDefaultPolicy": m.SetDefaultPolicy(gomsgr.LossyClient(0)),
	} {
		if !errors.Is(err, gomsgr.ErrStarted) {
			t.Errorf("%s after Start: %v, want ErrStarted", name, err)
		}
	}
}

// testBindKernelPort: Bind on port 0 with no range configured takes a port
// the kernel chose, at once; Ceph's 6800-7568 scan only happens when asked.
func testBindKernelPort(t *testing.T, newMsgr Factory) {
	m := newMsgr(t, Config{Name: osd0})
	t.Cleanup(func() { shutdown(t, m) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Bind(ctx, local); err != nil {
		t.Fatalf("Bind(127.0.0.1:0): %v", err)
	}
	p := m.Addrs()[0].Addr.Port()
	if p == 0 {
		t.Fatal("Bind on port 0 left port 0")
	}
	// The kernel's ephemeral range (net.ipv4.ip_local_port_range) does
	// not overlap Ceph's by default: a scan would have taken 6800.
	if p >= 6800 && p <= 7568 {
		t.Logf("kernel port %d lies in Ceph's range (unusual ip_local_port_range)", p)
	}
	// The port is really bound: another listener cannot take it.
	if l, err := net.Listen("tcp", m.Addrs()[0].Addr.String()); err == nil {
		t.Fatalf("port %d is free after Bind (close of the listener that took it: %v)", p, l.Close())
	}
}

// testWaitReady: WaitReady returns nil once a session opens, the cause on
// a refused one, and ctx.Err() on a peer that never answers; Err is nil
// while open.
func testWaitReady(t *testing.T, newMsgr Factory) {
	srv, _ := server(t, newMsgr, Config{}, gomsgr.StatelessServer(0))
	cli, _ := client(t, newMsgr, Config{ReadyTimeout: 30 * time.Second}, gomsgr.LossyClient(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady on an open session: %v", err)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err on an open session: %v", err)
	}

	// Refused: a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := gomsgr.Msgr2Addr(l.Addr().(*net.TCPAddr).AddrPort())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ConnectTo(gomsgr.EntityOSD, closed)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.WaitReady(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady on a refused connect: %v, want the refusal", err)
	}

	// Silent: a listener that accepts (the kernel does) and never speaks.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := silent.Close(); err != nil {
			t.Errorf("close the silent listener: %v", err)
		}
	}()
	sc, err := cli.ConnectTo(gomsgr.EntityOSD, gomsgr.Msgr2Addr(silent.Addr().(*net.TCPAddr).AddrPort()))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := sc.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady on a silent peer: %v, want ctx.Err()", err)
	}
	sc.MarkDown()
	if err := sc.WaitReady(ctx); !errors.Is(err, gomsgr.ErrMarkedDown) {
		t.Fatalf("WaitReady after MarkDown: %v, want ErrMarkedDown", err)
	}
}

// testZeroAllocs: a round trip in steady state (send, frame, write, read,
// parse, fast dispatch, echo, back) allocates nothing on either side: the
// messages and their buffers come from pools.
func testZeroAllocs(t *testing.T, newMsgr Factory) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	srv := newMsgr(t, Config{Name: osd0})
	configure(t, srv, gomsgr.StatelessServer(0), &echoServer{payload: make([]byte, 4096)})
	if err := srv.Bind(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, srv) })
	cli := newMsgr(t, Config{Name: client1})
	done := make(chan struct{}, 1)
	configure(t, cli, gomsgr.LossyClient(0), &replies{fn: func(uint64) { done <- struct{}{} }})
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, cli) })
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.NewTimer(time.Hour) // reused: time.After would allocate per trip
	defer timeout.Stop()
	for _, size := range []int{64, 4096} {
		data := make([]byte, size)
		roundTrip := func() {
			m := gomsgr.GetMessage()
			m.Type, m.Data = MsgTest, data
			m.SetReleaser(gomsgr.ReleaseToPool, nil)
			if err := c.SendMessage(m); err != nil {
				t.Fatal(err)
			}
			timeout.Reset(10 * time.Second)
			select {
			case <-done:
			case <-timeout.C:
				t.Fatal("no echo within 10s")
			}
		}
		for range 300 { // warm up: handshake, pools, buffers
			roundTrip()
		}
		// Other goroutines of the process (timers, the runtime) may
		// allocate now and then: allow one in ten round trips.
		if a := testing.AllocsPerRun(500, roundTrip); a > 0.1 {
			t.Errorf("%d-byte round trip: %.2f allocations, want 0", size, a)
		}
	}
}
