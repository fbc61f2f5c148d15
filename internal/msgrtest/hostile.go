package msgrtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// Hostile peers (docs/ARCHITECTURE.md, "Hostile peers"): strangers on raw
// sockets that complete the unauthenticated handshake and then claim
// receive budget they never use, or never finish the handshake at all.

// rawPeer is an attacker on a raw socket. It speaks msgr2 through a
// session engine (the frames a real client sends: banner, HELLO,
// AUTH_REQUEST with auth none, AUTH_SIGNATURE, CLIENT_IDENT), and then
// whatever the test writes by hand with package msgr2.
type rawPeer struct {
	nc    net.Conn
	eng   *session.Engine
	ready bool
	in    []byte
}

func (p *rawPeer) Ready(*session.Engine)                                   { p.ready = true }
func (p *rawPeer) Deliver(*msgr2.MsgHeader2, []byte, []byte, []byte) error { return nil }
func (p *rawPeer) Acked(uint64)                                            {}

// dialRaw connects to addr as client.num and runs the client side of the
// handshake until its engine reaches until: StateReady completes it, an
// earlier state leaves the server waiting there (what the engine queued
// on reaching it is not sent).
func dialRaw(addr gomsgr.EntityAddr, num int64, until session.State) (*rawPeer, error) {
	nc, err := net.Dial("tcp", addr.Addr.String())
	if err != nil {
		return nil, err
	}
	p := &rawPeer{nc: nc}
	p.eng = session.New(session.Config{
		Role: session.Client,
		Name: msgr2.EntityName{Type: msgr2.EntityClient, Num: num},
		// A stranger of its own: without a nonce of their own, raw peers
		// would all advertise 127.0.0.1:0/0, and a server that registers
		// sessions by address would take a second one for the first's
		// successor (a lossy session replaced: no fault counted for it).
		Nonce:     uint32(num),
		PeerType:  msgr2.EntityOSD,
		PeerAddr:  addr,
		Policy:    func(msgr2.EntityType) gomsgr.Policy { return gomsgr.LossyClient(0) },
		GlobalSeq: func(past uint64) uint64 { return past + 1 },
	}, p)
	p.eng.Start()
	if err := p.drive(until); err != nil {
		_ = nc.Close() // the error is the handshake's
		return nil, err
	}
	return p, nil
}

func (p *rawPeer) drive(until session.State) error {
	if err := p.nc.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 16<<10)
	for p.eng.State() < until {
		if out := p.eng.Output(); len(out) > 0 {
			if _, err := p.nc.Write(out); err != nil {
				return err
			}
			p.eng.Advance(len(out))
		}
		n, err := p.nc.Read(buf)
		if err != nil {
			return fmt.Errorf("handshake in state %v: %w", p.eng.State(), err)
		}
		p.in = append(p.in, buf[:n]...)
		used, _, err := p.eng.Feed(p.in)
		if err != nil {
			return fmt.Errorf("handshake in state %v: %w", p.eng.State(), err)
		}
		p.in = p.in[used:]
	}
	if until == session.StateReady {
		if out := p.eng.Output(); len(out) > 0 {
			if _, err := p.nc.Write(out); err != nil {
				return err
			}
			p.eng.Advance(len(out))
		}
	}
	return p.nc.SetReadDeadline(time.Time{})
}

// claim sends the preamble of a MESSAGE frame whose front segment claims
// size bytes, and nothing of the frame after it.
func (p *rawPeer) claim(size uint32) error {
	pre := msgr2.Preamble{Tag: msgr2.TagMessage, NumSegments: 2}
	pre.Segments[0] = msgr2.SegmentDesc{Len: msgr2.MsgHeader2Size, Align: msgr2.DefaultAlignment}
	pre.Segments[1] = msgr2.SegmentDesc{Len: size, Align: msgr2.DefaultAlignment}
	_, err := p.nc.Write(msgr2.AppendPreamble(nil, &pre))
	return err
}

// closedByServer reports whether the server closed p's socket within d:
// a read sees EOF or an error other than the deadline.
func closedByServer(nc net.Conn, d time.Duration) error {
	if err := nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v", d)
	}
	return nil
}

// perfOf returns m's perf counters (both messengers have them).
func perfOf(t *testing.T, m gomsgr.Messenger) *perf.Set {
	t.Helper()
	p, ok := m.(interface{ Perf() *perf.Set })
	if !ok {
		t.Fatalf("%T has no Perf", m)
	}
	return p.Perf()
}

// heldBudget returns what m's receive throttles hold in all (policy and
// dispatch; bytes and messages).
func heldBudget(s *perf.Set) int64 {
	var n int64
	for _, th := range s.Throttles() {
		n += th.Snapshot().Val
	}
	return n
}

// pingPong does n round trips on c, one message at a time, each echoed
// into cr; it fails t if they do not finish within d (a generous bound:
// the assertion is that they finish, not how fast).
func pingPong(t *testing.T, c gomsgr.Connection, cr *recorder, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	base := cr.count()
	for i := range n {
		if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: uint64(i), Data: payload(i, 100)}); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		cr.waitFor(t, time.Until(deadline), fmt.Sprintf("round trip %d of %d", i+1, n), func() bool { return len(cr.msgs) >= base+i+1 })
	}
}

// testStallers: 32 strangers complete the handshake, each claims a 4 MiB
// message at its preamble (together 8 times the server's 16 MiB
// throttles) and then sends nothing (half of them) or a byte every 20ms
// (the others). A well-behaved client must still finish its round trips:
// the message progress deadline closes every staller (its read sees EOF or
// a reset), msgr_connection_stalls counts each one, and the throttles hold
// nothing afterwards.
func testStallers(t *testing.T, newMsgr Factory) {
	const (
		stallers = 32
		claim    = 4 << 20
		trips    = 20
	)
	pol := gomsgr.StatelessServer(0)
	pol.ThrottleBytes = 16 << 20
	srv, _ := server(t, newMsgr, Config{DispatchThrottleBytes: 16 << 20, MessageProgressTimeout: 300 * time.Millisecond}, pol)
	addr := srv.Addrs()[0]
	sp := perfOf(t, srv)

	peers := make([]*rawPeer, 0, stallers)
	defer func() {
		for _, p := range peers {
			_ = p.nc.Close() // closed by the server already, most likely
		}
	}()
	for i := range stallers {
		p, err := dialRaw(addr, int64(9000+i), session.StateReady)
		if err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
		peers = append(peers, p)
		if err := p.claim(claim); err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
	}
	// The tricklers: one byte every 20ms, until the server closes them.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range peers[:stallers/2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := p.nc.Write([]byte{0}); err != nil {
					return // the server closed it
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, c, cr, trips, 60*time.Second)

	for i, p := range peers {
		if err := closedByServer(p.nc, 60*time.Second); err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
	}
	WaitUntil(t, 20*time.Second, "a stall counted for every staller", func() bool {
		return sp.Total().Get(perf.ConnectionStalls) >= stallers
	})
	if n := sp.Total().Get(perf.ConnectionStalls); n != stallers {
		t.Fatalf("msgr_connection_stalls = %d, want %d (one per staller)", n, stallers)
	}
	// The good client's session was never taken for a staller.
	if !c.IsConnected() {
		t.Fatalf("the good client's connection closed: %v", c.Err())
	}
	pingPong(t, c, cr, 5, 60*time.Second)
	WaitUntil(t, 20*time.Second, "the throttles to hold nothing", func() bool { return heldBudget(sp) == 0 })
}

// testStallLossless: under a lossless server policy a stall is a fault
// like any other: the session is kept (the peer may reconnect) but the
// socket goes, and with it the budget.
func testStallLossless(t *testing.T, newMsgr Factory) {
	const stallers = 2
	pol := gomsgr.StatefulServer(0)
	pol.ThrottleBytes = 16 << 20
	srv, _ := server(t, newMsgr, Config{DispatchThrottleBytes: 16 << 20, MessageProgressTimeout: 200 * time.Millisecond}, pol)
	addr := srv.Addrs()[0]
	sp := perfOf(t, srv)
	stallEach(t, addr, sp, stallers, 9400)
	WaitUntil(t, 20*time.Second, "the throttles to hold nothing", func() bool { return heldBudget(sp) == 0 })
	// The fault is counted when the connection's fault handling ends,
	// which may come a moment after its budget went back.
	faults := func() uint64 { return srv.(interface{ SessionStats() gomsgr.SessionStats }).SessionStats().Faults }
	WaitUntil(t, 20*time.Second, "a fault counted for every stall", func() bool { return faults() >= stallers })
}

// testStallNoThrottle: with no receive throttle at all (no policy limits,
// the dispatch throttle off) a stranger's claim holds no budget but still
// pins a frame-sized buffer: the progress deadline closes it all the same.
func testStallNoThrottle(t *testing.T, newMsgr Factory) {
	const stallers = 4
	srv, _ := server(t, newMsgr, Config{DispatchThrottleBytes: -1, MessageProgressTimeout: 200 * time.Millisecond}, gomsgr.StatelessServer(0))
	addr := srv.Addrs()[0]
	sp := perfOf(t, srv)
	stallEach(t, addr, sp, stallers, 9300)
	if n := sp.Total().Get(perf.ConnectionStalls); n != stallers {
		t.Fatalf("msgr_connection_stalls = %d, want %d", n, stallers)
	}
}

// testThrottleShare: one connection may not take more than its share (1/4)
// of a byte throttle while others hold budget. A slow dispatcher holds a
// small message; a stranger then claims 14 MiB of the 16 MiB dispatch
// throttle (it would fit, but is over the 4 MiB share) and sends nothing:
// it must wait instead of taking it, so that a well-behaved client's 3 MiB
// message is still received. Once the dispatcher lets go and the throttle
// drains, a 6 MiB message (over the share) is received too: big messages
// are not locked out.
func testThrottleShare(t *testing.T, newMsgr Factory) {
	srv := newMsgr(t, Config{Name: osd0, DispatchThrottleBytes: 16 << 20, MessageProgressTimeout: time.Minute})
	g := &gate{open: make(chan struct{})}
	srv = Serve(t, srv, gomsgr.StatelessServer(0), g)
	t.Cleanup(func() { shutdown(t, srv) })
	defer g.release()
	addr := srv.Addrs()[0]
	sp := perfOf(t, srv)
	recv := func() uint64 { return sp.Total().Get(perf.RecvMessages) }

	cli, _ := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: 1, Data: payload(1, 1000)}); err != nil {
		t.Fatal(err)
	}
	WaitUntil(t, 20*time.Second, "the first message held by the dispatcher", func() bool { return recv() == 1 })

	p, err := dialRaw(addr, 9100, session.StateReady)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.nc.Close() }() // the test's end: the server may have closed it
	if err := p.claim(14 << 20); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: 2, Data: payload(2, 3<<20)}); err != nil {
		t.Fatal(err)
	}
	// Without the share the stranger holds 14 MiB for the whole minute of
	// its deadline, and the 3 MiB message cannot fit beside it.
	WaitUntil(t, 20*time.Second, "the 3 MiB message beside the stranger's 14 MiB claim", func() bool { return recv() == 2 })

	// The stranger goes away; the dispatcher lets go.
	if err := p.nc.Close(); err != nil {
		t.Fatal(err)
	}
	g.release()
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: 3, Data: payload(3, 6<<20)}); err != nil {
		t.Fatal(err)
	}
	WaitUntil(t, 30*time.Second, "the 6 MiB message (over the share) once the throttle drained", func() bool { return recv() == 3 })
	if !c.IsConnected() {
		t.Fatalf("the good client's connection closed: %v", c.Err())
	}
	WaitUntil(t, 20*time.Second, "the throttles to hold nothing", func() bool { return heldBudget(sp) == 0 })
}

// gate is a dispatcher that holds every message until released.
type gate struct {
	open chan struct{}
	once sync.Once
}

func (g *gate) Dispatch(m *gomsgr.Message) bool {
	<-g.open
	m.Release()
	return true
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// testHandshakeBound: with MaxHandshaking 8, strangers park 8 connections
// at different points of the handshake (after the banner, before
// AUTH_REQUEST, before AUTH_SIGNATURE, before CLIENT_IDENT: the rule is
// "not ready yet"); 8 more are refused at once (closed before the server
// says anything, counted in msgr_handshakes_refused); the ready timeout
// closes the parked ones; then a well-behaved client connects and does its
// round trips.
func testHandshakeBound(t *testing.T, newMsgr Factory) {
	const bound = 8
	srv, _ := server(t, newMsgr, Config{MaxHandshaking: bound, ReadyTimeout: 4 * time.Second}, gomsgr.StatelessServer(0))
	addr := srv.Addrs()[0]
	sp := perfOf(t, srv)

	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			_ = nc.Close() // closed by the server already, most likely
		}
	}()
	stops := []session.State{session.StateBanner, session.StateAuth, session.StateAuthSig, session.StateIdent}
	for i := range bound {
		var nc net.Conn
		if until := stops[i%len(stops)]; until == session.StateBanner {
			var err error
			if nc, err = net.Dial("tcp", addr.Addr.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Write(msgr2.AppendBanner(nil, msgr2.LocalBanner)); err != nil {
				t.Fatal(err)
			}
		} else {
			p, err := dialRaw(addr, int64(9200+i), until)
			if err != nil {
				t.Fatalf("parked %d (until %v): %v", i, until, err)
			}
			nc = p.nc
		}
		conns = append(conns, nc)
	}
	WaitUntil(t, 20*time.Second, "the parked connections accepted", func() bool {
		return sp.Total().Get(perf.CreatedConnections) >= bound
	})
	if refused := sp.Total().Get(perf.HandshakesRefused); refused != 0 {
		t.Fatalf("%d refused within the bound", refused)
	}
	for i := range bound {
		nc, err := net.Dial("tcp", addr.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		// Refused at once: closed before the server sends its banner.
		if err := nc.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, nc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("extra connection %d (past the bound) still open after 20s", i)
		}
		if n != 0 {
			t.Fatalf("extra connection %d (past the bound) got %d bytes: it was served", i, n)
		}
	}
	if refused := sp.Total().Get(perf.HandshakesRefused); refused != bound {
		t.Fatalf("msgr_handshakes_refused = %d, want %d", refused, bound)
	}
	for i, nc := range conns[:bound] {
		if err := closedByServer(nc, 30*time.Second); err != nil {
			t.Fatalf("parked %d: %v (the ready timeout did not close it)", i, err)
		}
	}
	WaitUntil(t, 20*time.Second, "a ready timeout counted for every parked connection", func() bool {
		return sp.Total().Get(perf.ConnectionReadyTimeouts) >= bound
	})
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, c, cr, 10, 60*time.Second)
}

// stallEach opens n connections as peers id, id+1, ..., each claiming a
// 4 MiB message and sending nothing more, checks that the server closes
// each, and waits until the server counted a stall for each.
func stallEach(t *testing.T, addr gomsgr.EntityAddr, sp *perf.Set, n int, id int64) {
	t.Helper()
	for i := range n {
		p, err := dialRaw(addr, id+int64(i), session.StateReady)
		if err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
		if err := p.claim(4 << 20); err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
		err = closedByServer(p.nc, 30*time.Second)
		closeConn(t, p.nc)
		if err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
	}
	WaitUntil(t, 20*time.Second, "a stall counted for every staller", func() bool {
		return sp.Total().Get(perf.ConnectionStalls) >= uint64(n)
	})
}
