package simple_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/simple"
)

var (
	osd0    = gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}
	client1 = gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4101}
	local   = netip.MustParseAddrPort("127.0.0.1:0")
)

// newMsgr returns a messenger shut down when the test ends.
func newMsgr(t *testing.T, o simple.Options) *simple.Messenger {
	t.Helper()
	return msgrtest.New(t, simple.NewMessenger, o)
}

// echoPair starts osd.0 with options o, echoing every message, and a lossy
// client.4101 whose replies' tids arrive on r.ch.
func echoPair(t *testing.T, o simple.Options) (srv, cli *simple.Messenger, r *replies) {
	t.Helper()
	o.Name = osd0
	srv = msgrtest.Serve(t, newMsgr(t, o), gomsgr.StatelessServer(0), echo{})
	r = &replies{ch: make(chan uint64, 4)}
	cli = msgrtest.Start(t, newMsgr(t, simple.Options{Name: client1, SampleEvery: o.SampleEvery}), gomsgr.LossyClient(0), r)
	return srv, cli, r
}

// freePort returns a port the kernel considers free now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	// The caller binds the port next: it must be released.
	must(t, ln.Close())
	return port
}

// must fails t at once if err is not nil: for a step the rest of the test
// depends on. Call it on the test goroutine only; in a dispatcher or
// another goroutine, report with t.Error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBindPortRange(t *testing.T) {
	leakcheck.Check(t)
	p := int(freePort(t))
	o := simple.Options{Name: osd0, BindPortMin: p, BindPortMax: p, BindRetryCount: 1, BindRetryDelay: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	a := newMsgr(t, o)
	if err := a.Bind(context.Background(), local); err != nil {
		t.Fatalf("Bind in [%d, %d]: %v", p, p, err)
	}
	if got := a.Addrs()[0].Addr.Port(); int(got) != p {
		t.Fatalf("bound port %d, want %d, the only one in the range", got, p)
	}
	b := newMsgr(t, o)
	start := time.Now()
	err := b.Bind(context.Background(), local)
	if err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Fatalf("second Bind in a full range: %v, want a no-free-port error", err)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatalf("second Bind gave up after %v, without its retry", time.Since(start))
	}
	any := newMsgr(t, simple.Options{Name: osd0})
	if err := any.Bind(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if port := any.Addrs()[0].Addr.Port(); port == 0 {
		t.Fatal("Bind with port 0 and no range left port 0")
	}
	if err := any.Bind(context.Background(), local); err == nil {
		t.Fatal("a second Bind on a bound messenger succeeded")
	}
}

func TestLifecycle(t *testing.T) {
	leakcheck.Check(t)
	m, err := simple.NewMessenger(simple.Options{Name: client1})
	if err != nil {
		t.Fatal(err)
	}
	addr := gomsgr.EntityAddr{Addr: netip.MustParseAddrPort("127.0.0.1:1")}
	if _, err := m.ConnectTo(gomsgr.EntityOSD, addr); !errors.Is(err, gomsgr.ErrNotStarted) {
		t.Fatalf("ConnectTo before Start: %v, want ErrNotStarted", err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err == nil {
		t.Fatal("a second Start succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("a second Shutdown: %v", err)
	}
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ConnectTo(gomsgr.EntityOSD, addr); !errors.Is(err, gomsgr.ErrShutdown) {
		t.Fatalf("ConnectTo after Shutdown: %v, want ErrShutdown", err)
	}
	if err := m.Start(); !errors.Is(err, gomsgr.ErrShutdown) {
		t.Fatalf("Start after Shutdown: %v, want ErrShutdown", err)
	}
}

// echo answers every message on its connection.
type echo struct{}

func (echo) Dispatch(m *gomsgr.Message) bool {
	// The connection may close as the test ends; a lost echo fails the
	// test that waits for it.
	_ = m.Conn.SendMessage(&gomsgr.Message{Type: m.Type, Tid: m.Tid})
	m.Release()
	return true
}

type replies struct{ ch chan uint64 }

func (r *replies) Dispatch(m *gomsgr.Message) bool {
	r.ch <- m.Tid
	m.Release()
	return true
}

func wait(t *testing.T, ch chan uint64, want uint64) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("reply tid %d, want %d", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply for tid %d", want)
	}
}

func TestKeepaliveAndMarkDownByAddr(t *testing.T) {
	leakcheck.Check(t)
	srv, cli, r := echoPair(t, simple.Options{SampleEvery: 1}) // every message timed: the queue-latency count is exact
	addr := srv.Addrs()[0]
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	// A keepalive queued before the session is ready waits for it.
	if err := c.SendKeepalive(); err != nil {
		t.Fatal(err)
	}
	must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: 1}))
	wait(t, r.ch, 1)
	sc := c.(*simple.Connection)
	if sc.State() != "ready" || sc.QueueLen() != 0 {
		t.Fatalf("state %s, queue %d; want ready and empty", sc.State(), sc.QueueLen())
	}
	if err := c.SendKeepalive(); err != nil {
		t.Fatal(err)
	}
	must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: 2}))
	wait(t, r.ch, 2)
	if c.PeerAddr() != addr || c.Features() == 0 || c.Messenger() != cli {
		t.Fatalf("peer addr %v (want %v), features %#x, messenger %p", c.PeerAddr(), addr, c.Features(), c.Messenger())
	}

	cli.MarkDown(addr)
	if c.IsConnected() || sc.State() != "closed" {
		t.Fatalf("after MarkDown(addr): connected %v, state %s", c.IsConnected(), sc.State())
	}
	c2, _ := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if c2 == c {
		t.Fatal("ConnectTo after MarkDown(addr) returned the old connection")
	}
	must(t, c2.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: 3}))
	wait(t, r.ch, 3)
	cli.MarkDownAll()
	if c2.IsConnected() {
		t.Fatal("connected after MarkDownAll")
	}
	tot := cli.Perf().Total()
	if tot.Get(perf.SendMessages) != 3 || tot.Get(perf.RecvMessages) != 3 || tot.Get(perf.CreatedConnections) != 2 ||
		tot.Gauge(perf.ActiveConnections) != 0 || tot.Get(perf.SendBytes) == 0 || tot.Avg(perf.SendMessagesQueueLat).Count != 3 {
		t.Fatalf("client counters: sent %d, received %d, created %d, active %d, sent bytes %d, queue lat %+v; want 3, 3, 2, 0, > 0, 3 observations",
			tot.Get(perf.SendMessages), tot.Get(perf.RecvMessages), tot.Get(perf.CreatedConnections),
			tot.Gauge(perf.ActiveConnections), tot.Get(perf.SendBytes), tot.Avg(perf.SendMessagesQueueLat))
	}
}

// TestBadMethodIsAnswered: a client asking for cephx in secure mode from
// an auth-none server gets AUTH_BAD_METHOD (the engine's answer) for each
// request, so that it may offer another method, and the server closes
// after the fourth refusal, not just a closed socket.
func TestBadMethodIsAnswered(t *testing.T) {
	leakcheck.Check(t)
	srv := msgrtest.Serve(t, newMsgr(t, simple.Options{Name: osd0}), gomsgr.StatelessServer(0))
	req := &msgr2.AuthRequest{Method: msgr2.AuthCephx, PreferredModes: []msgr2.ConMode{msgr2.ConModeSecure}}
	tags, err := rawHandshake(srv.Addrs()[0].Addr.String(), req, req, req, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []msgr2.Tag{msgr2.TagHello, msgr2.TagAuthBadMethod, msgr2.TagAuthBadMethod, msgr2.TagAuthBadMethod, msgr2.TagAuthBadMethod}
	if !slices.Equal(tags, want) {
		t.Fatalf("server sent %v before closing, want %v", tags, want)
	}
}

// rawHandshake speaks msgr2 by hand: banner, HELLO, then reqs; it returns
// the tags of the frames the server sent until it closed the connection.
func rawHandshake(addr string, reqs ...msgr2.Payload) ([]msgr2.Tag, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }() // read to EOF or failed already: nothing left to lose
	out := msgr2.AppendBanner(nil, msgr2.LocalBanner)
	out = msgr2.AppendControl(out, msgr2.Rev1, &msgr2.Hello{EntityType: msgr2.EntityClient})
	for _, req := range reqs {
		out = msgr2.AppendControl(out, msgr2.Rev1, req)
	}
	if _, err := c.Write(out); err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	in, err := io.ReadAll(c)
	if err != nil {
		return nil, fmt.Errorf("reading until the server closes: %w", err)
	}
	_, n, err := msgr2.ParseBanner(in)
	if err != nil {
		return nil, err
	}
	in = in[n:]
	fr := msgr2.FrameReader{Rev: msgr2.Rev1}
	var tags []msgr2.Tag
	for len(in) > 0 {
		f, n, err := fr.Decode(in)
		if err != nil {
			return tags, fmt.Errorf("frame after %v: %w", tags, err)
		}
		tags = append(tags, f.Tag())
		in = in[n:]
	}
	return tags, nil
}

// TestHugeFrameBeforeHandshake: a peer that has not completed the
// handshake cannot make the server allocate a large frame buffer.
func TestHugeFrameBeforeHandshake(t *testing.T) {
	leakcheck.Check(t)
	srv := msgrtest.Serve(t, newMsgr(t, simple.Options{Name: osd0}), gomsgr.StatelessServer(0))
	p := msgr2.Preamble{Tag: msgr2.TagHello, NumSegments: 1}
	p.Segments[0].Len = 60 << 20
	in := append(msgr2.AppendBanner(nil, msgr2.LocalBanner), msgr2.AppendPreamble(nil, &p)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := net.Dial("tcp", srv.Addrs()[0].Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // cleanup: the server has closed its end, or the test failed
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	must(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("a 60 MiB HELLO preamble made the process allocate %d bytes", grew)
	}
}

func shutdownCtx(t *testing.T, m gomsgr.Messenger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestAnonErrAndDump(t *testing.T) {
	leakcheck.Check(t)
	srv, cli, r := echoPair(t, simple.Options{})
	addr := srv.Addrs()[0]
	a1, err := cli.ConnectAnon(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := cli.ConnectAnon(gomsgr.EntityOSD, addr)
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if a1 == a2 || c == gomsgr.Connection(a1) || c == gomsgr.Connection(a2) {
		t.Fatal("anonymous connections are shared or returned by ConnectTo")
	}
	for i, conn := range []gomsgr.Connection{a1, a2, c} {
		must(t, conn.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(10 + i)}))
		wait(t, r.ch, uint64(10+i))
	}
	d := cli.Dump()
	regs := map[string]int{}
	for _, cd := range d.Connections {
		regs[cd.Registry]++
		if cd.State != "ready" || cd.PeerName != "osd.0" || cd.Role != "client" {
			t.Fatalf("dump entry %+v: want a ready client connection to osd.0", cd)
		}
	}
	if regs["anon"] != 2 || regs["conns"] != 1 {
		t.Fatalf("dump registries %v, want 2 anon and 1 conns", regs)
	}
	// One message each way on every connection: the sessions' numbers,
	// as published after the reader's and the writer's last runs.
	seqsDone := func() bool {
		for _, cd := range cli.Dump().Connections {
			if cd.InSeq != 1 || cd.OutSeq != 1 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); !seqsDone(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dump %+v: want in_seq 1 and out_seq 1 on every connection", cli.Dump().Connections)
		}
	}
	var js strings.Builder
	if err := srv.WriteDumpJSON(&js); err != nil || !strings.Contains(js.String(), `"accepted": 3`) {
		t.Fatalf("server dump (err %v) does not say 3 accepted:\n%s", err, js.String())
	}
	if a1.Err() != nil {
		t.Fatalf("Err on an open connection: %v", a1.Err())
	}
	a1.MarkDown()
	if !errors.Is(a1.Err(), gomsgr.ErrMarkedDown) {
		t.Fatalf("Err after MarkDown: %v, want ErrMarkedDown", a1.Err())
	}
	if err := a1.SendMessage(&gomsgr.Message{Type: 0x7001}); !errors.Is(err, gomsgr.ErrClosed) {
		t.Fatalf("SendMessage after MarkDown: %v, want ErrClosed", err)
	}
}

func TestErrRefused(t *testing.T) {
	leakcheck.Check(t)
	cli := newMsgr(t, simple.Options{Name: client1})
	// Lossy: a lossless client keeps dialling (Err stays nil meanwhile).
	if err := cli.SetDefaultPolicy(gomsgr.LossyClient(0)); err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := cli.ConnectAnon(gomsgr.EntityOSD, gomsgr.EntityAddr{Addr: netip.AddrPortFrom(local.Addr(), freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the connect to a closed port to fail", func() bool { return c.Err() != nil })
	if !errors.Is(c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("Err after connecting to a closed port: %v, want ECONNREFUSED", c.Err())
	}
}

func TestRebind(t *testing.T) {
	leakcheck.Check(t)
	srv, cli, r := echoPair(t, simple.Options{})
	old := srv.Addrs()[0]
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, old)
	must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: 1}))
	wait(t, r.ch, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Rebind(ctx, []uint16{old.Addr.Port() + 1}); err != nil {
		t.Fatal(err)
	}
	now := srv.Addrs()[0]
	if now.Addr.Port() == old.Addr.Port() || now.Addr.Port() == old.Addr.Port()+1 || now.Nonce == old.Nonce {
		t.Fatalf("rebound to %v (nonce %d) from %v (nonce %d), avoiding port %d: want a new port and nonce",
			now.Addr, now.Nonce, old.Addr, old.Nonce, old.Addr.Port()+1)
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the connection to the old address to close", func() bool { return !c.IsConnected() })
	c2, _ := cli.ConnectTo(gomsgr.EntityOSD, now)
	must(t, c2.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: 2}))
	wait(t, r.ch, 2)
}
