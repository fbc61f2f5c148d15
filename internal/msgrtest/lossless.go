package msgrtest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Ceph's test_msgr scenarios for lossless sessions (ReconnectTest,
// StatefulTest, StatelessTest, ClientStandbyTest, MissingServerIdenTest,
// MarkdownTest, ConnectionRaceTest, ReconnectRaceTest), for messengers
// that keep lossless sessions across sockets, count them in SessionStats
// and honour testhooks.Config (step hooks and fault injection).

// RunLossless runs the lossless scenarios against the messengers newMsgr
// creates. Their messengers must have a SessionStats method and their
// connections a State method (both of conn's and simple's do).
func RunLossless(t *testing.T, newMsgr Factory) {
	tests := []struct {
		name string
		f    func(*testing.T, Factory)
	}{
		{"KeepsUntilAcked/lossless", func(t *testing.T, f Factory) { testKeepsUntilAcked(t, f, true) }},
		{"KeepsUntilAcked/lossy", func(t *testing.T, f Factory) { testKeepsUntilAcked(t, f, false) }},
		{"ReconnectUnderSocketFailures", testReconnectUnderSocketFailures},
		{"StatefulServerMarkDown", testStatefulServerMarkDown},
		{"StatelessServerMarkDown", testStatelessServerMarkDown},
		{"ClientStandby", testClientStandby},
		{"StandbyKeepalive", testStandbyKeepalive},
		{"MissingServerIdent", testMissingServerIdent},
		{"MissingServerIdent2", testMissingServerIdent2},
		{"MarkdownProgress", testMarkdownProgress},
		{"ConnectionRace/ident", func(t *testing.T, f Factory) { testConnectionRace(t, f, testhooks.StepSendClientIdent) }},
		{"ConnectionRace/banner", func(t *testing.T, f Factory) { testConnectionRace(t, f, testhooks.StepRecvBanner) }},
		{"ReconnectRace", testReconnectRace},
		{"ReceiveDelayKeepsOrder", testReceiveDelayKeepsOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tc.f(t, newMsgr)
		})
	}
}

// testReconnectUnderSocketFailures is Ceph's ReconnectTest under injected
// socket failures: a lossless client and a stateful server lose their
// socket again and again, and every message still arrives exactly once and
// in order, both ways.
func testReconnectUnderSocketFailures(t *testing.T, newMsgr Factory) {
	inj := testhooks.Inject{SocketFailures: 20}
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true, inject: inj})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0), inject: inj, initialBkoff: time.Millisecond})
	c := sessionTo(t, cli, srv.Addrs()[0])
	// At least 500 pings, in bursts of 50, and more until a failure
	// was injected and the client reconnected: with batched writes a
	// run has few system calls, and 1 in 20 of them may all pass.
	n := 0
	for n < 500 || (n < 5000 && (cli.SessionStats().InjectedSocketFailures+srv.SessionStats().InjectedSocketFailures == 0 || cli.SessionStats().Reconnects == 0)) {
		for k := 0; k < 50; k++ {
			n++
			send(t, c, ping(uint64(n)))
		}
		time.Sleep(5 * time.Millisecond) // pacing: several writes, not one batch
	}
	WaitOrDump(t, 60*time.Second, "all pongs", func() bool { return cr.count() >= n }, srv, cli)
	checkInOrder(t, "client", cr.tidsOf(c), n)
	if sr.conns() != 1 {
		t.Fatalf("server saw messages on %d connections, want 1 session", sr.conns())
	}
	st := cli.SessionStats()
	sst := srv.SessionStats()
	t.Logf("client %+v", st)
	t.Logf("server %+v", sst)
	if st.InjectedSocketFailures+sst.InjectedSocketFailures == 0 || st.Reconnects == 0 {
		t.Fatalf("no fault injected or no reconnect: the test proved nothing")
	}
	if sr.events("remote_reset")+cr.events("remote_reset")+cr.events("reset") != 0 {
		t.Fatalf("a session was reset: server %v client %v", sr.allEvents(), cr.allEvents())
	}
}

// testStatefulServerMarkDown is Ceph's StatefulTest: when the stateful
// server drops the session, the lossless client's reconnect is answered
// with a full SESSION_RESET, the client sees a remote reset, and the
// session starts over.
func testStatefulServerMarkDown(t *testing.T, newMsgr Factory) {
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0)})
	c := pinged(t, cli, srv, cr)
	srv.MarkDownAll()
	WaitUntil(t, 10*time.Second, "the client's remote reset", func() bool { return cr.events("remote_reset") == 1 })
	send(t, c, ping(2))
	WaitUntil(t, 10*time.Second, "pong 2", func() bool { return cr.count() == 2 })
	if got := cr.tidsOf(c); got[1] != 2 {
		t.Fatalf("client got tids %v", got)
	}
	if sr.events("accept") != 2 || cr.events("reset") != 0 {
		t.Fatalf("server events %v, client events %v", sr.allEvents(), cr.allEvents())
	}
	if c2 := sessionTo(t, cli, srv.Addrs()[0]); c2 != c {
		t.Fatal("the client has a new connection: a lossless session must keep its Connection")
	}
}

// testStatelessServerMarkDown is the lossy side of Ceph's StatelessTest:
// when the server drops a lossy session the client sees a reset, and a new
// connection works.
func testStatelessServerMarkDown(t *testing.T, newMsgr Factory) {
	srv, _ := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatelessServer(0), bind: true, echo: true})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LossyClient(0)})
	c := pinged(t, cli, srv, cr)
	srv.MarkDownAll()
	WaitUntil(t, 10*time.Second, "the client's reset", func() bool { return cr.events("reset") == 1 })
	if c.IsConnected() || c.SendMessage(ping(9)) == nil {
		t.Fatal("the lossy connection is still usable after its reset")
	}
	c2 := sessionTo(t, cli, srv.Addrs()[0])
	if c2 == c {
		t.Fatal("ConnectTo returned the reset connection")
	}
	send(t, c2, ping(2))
	WaitUntil(t, 10*time.Second, "pong 2", func() bool { return cr.count() == 2 })
}

// testClientStandby is Ceph's ClientStandbyTest: a lossless peer whose
// socket fails with nothing to send (here: its idle timeout) goes to
// STANDBY without reconnecting, and reconnects to the same session when it
// has something to send.
func testClientStandby(t *testing.T, newMsgr Factory) {
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.LosslessPeer(0), bind: true, echo: true})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: osd1Name, pol: gomsgr.LosslessPeer(0), bind: true, idle: 300 * time.Millisecond})
	c := pinged(t, cli, srv, cr)
	WaitUntil(t, 10*time.Second, "standby", func() bool { return c.State() == "standby" })
	time.Sleep(100 * time.Millisecond) // it stays there: nothing wakes it
	if c.State() != "standby" || c.IsConnected() {
		t.Fatalf("state %s after the fault with nothing queued, want standby", c.State())
	}
	send(t, c, ping(2))
	WaitUntil(t, 10*time.Second, "pong 2", func() bool { return cr.count() == 2 })
	checkInOrder(t, "client", cr.tidsOf(c), 2)
	if sr.conns() != 1 || sr.events("remote_reset")+cr.events("remote_reset")+cr.events("reset") != 0 {
		t.Fatalf("server saw %d connections; events server %v client %v", sr.conns(), sr.allEvents(), cr.allEvents())
	}
}

// testStandbyKeepalive: a keepalive queued for a session in STANDBY wakes
// it as a message does: it reconnects to the same session, and the
// keepalive goes out (the peer's read resets nothing).
func testStandbyKeepalive(t *testing.T, newMsgr Factory) {
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.LosslessPeer(0), bind: true, echo: true})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: osd1Name, pol: gomsgr.LosslessPeer(0), bind: true, idle: 300 * time.Millisecond})
	c := pinged(t, cli, srv, cr)
	WaitUntil(t, 10*time.Second, "standby", func() bool { return c.State() == "standby" })
	reconnects := cli.SessionStats().Reconnects
	if err := c.SendKeepalive(); err != nil {
		t.Fatalf("SendKeepalive in standby: %v", err)
	}
	WaitUntil(t, 10*time.Second, "the reconnect a keepalive asks for", func() bool {
		return cli.SessionStats().Reconnects > reconnects && c.IsConnected()
	})
	send(t, c, ping(2))
	WaitUntil(t, 10*time.Second, "pong 2", func() bool { return cr.count() == 2 })
	checkInOrder(t, "client", cr.tidsOf(c), 2)
	if sr.conns() != 1 || sr.events("remote_reset")+cr.events("remote_reset")+cr.events("reset") != 0 {
		t.Fatalf("server saw %d connections; events server %v client %v", sr.conns(), sr.allEvents(), cr.allEvents())
	}
}

// testMissingServerIdent is Ceph's MissingServerIdenTest: the server
// fails right before sending SERVER_IDENT; the client reconnects and the
// message is delivered exactly once.
func testMissingServerIdent(t *testing.T, newMsgr Factory) {
	var failed atomic.Int32
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true,
		step: func(r testhooks.Role, s testhooks.Step) testhooks.Action {
			if s == testhooks.StepSendServerIdent && failed.Add(1) == 1 {
				return testhooks.Fail
			}
			return testhooks.Continue
		}})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0), initialBkoff: time.Millisecond})
	pinged(t, cli, srv, cr)
	time.Sleep(50 * time.Millisecond) // room for a duplicate to show up
	if sr.count() != 1 || cr.count() != 1 || failed.Load() < 2 {
		t.Fatalf("server got %d, client %d messages; %d SERVER_IDENT attempts", sr.count(), cr.count(), failed.Load())
	}
	if cr.events("connect") != 1 || sr.events("accept") != 1 {
		t.Fatalf("events: client %v server %v", cr.allEvents(), sr.allEvents())
	}
}

// testMissingServerIdent2 is Ceph's MissingServerIdenTest2: the server
// freezes right before SERVER_IDENT; the client's ready timeout faults the
// attempt, it dials again, and the message is delivered exactly once.
func testMissingServerIdent2(t *testing.T, newMsgr Factory) {
	var frozen atomic.Int32
	srv, sr := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true,
		ready: 300 * time.Millisecond,
		step: func(r testhooks.Role, s testhooks.Step) testhooks.Action {
			if s == testhooks.StepSendServerIdent && frozen.Add(1) == 1 {
				return testhooks.Stop
			}
			return testhooks.Continue
		}})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0), initialBkoff: time.Millisecond,
		ready: 300 * time.Millisecond})
	pinged(t, cli, srv, cr)
	time.Sleep(50 * time.Millisecond) // room for a duplicate to show up
	if sr.count() != 1 || cr.count() != 1 || frozen.Load() < 2 {
		t.Fatalf("server got %d, client %d messages; %d SERVER_IDENT attempts", sr.count(), cr.count(), frozen.Load())
	}
}

// testMarkdownProgress is Ceph's MarkdownTest: sessions are marked down
// over and over, from either side, and the exchange never stalls.
func testMarkdownProgress(t *testing.T, newMsgr Factory) {
	srv, _ := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0), initialBkoff: time.Millisecond})
	rounds := 60
	if raceEnabled {
		rounds = 30
	}
	for i := 1; i <= rounds; i++ {
		c := sessionTo(t, cli, srv.Addrs()[0])
		send(t, c, ping(uint64(i)))
		WaitUntil(t, 10*time.Second, fmt.Sprintf("pong %d", i), func() bool { return cr.count() >= i })
		if i%2 == 0 {
			cli.MarkDownAll() // the next ConnectTo opens a new session
		} else {
			// The server drops the session: the client learns it when
			// it reconnects (a remote reset discards what it queued).
			resets := cr.events("remote_reset")
			srv.MarkDownAll()
			WaitUntil(t, 10*time.Second, "remote reset", func() bool { return cr.events("remote_reset") > resets })
		}
	}
}

// testConnectionRace is Ceph's ConnectionRaceTest: two lossless peers
// dial each other at the same moment (their CLIENT_IDENTs cross); one
// session survives on each side, and every message arrives once, in order.
//
// With the delay after the banner exchange instead, it is Ceph's
// ConnectionRaceReuseBannerTest: the sockets cross right after their
// banners.
func testConnectionRace(t *testing.T, newMsgr Factory, at testhooks.Step) {
	for round := 0; round < 3; round++ {
		slow := func(r testhooks.Role, s testhooks.Step) testhooks.Action {
			if s == at {
				time.Sleep(20 * time.Millisecond) // the injected race: both sockets cross
			}
			return testhooks.Continue
		}
		a, ar := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.LosslessPeerReuse(0), bind: true, echo: true, step: slow})
		b, br := newLmsgr(t, newMsgr, lopts{name: osd1Name, pol: gomsgr.LosslessPeerReuse(0), bind: true, echo: true, step: slow})
		ca := sessionTo(t, a, b.Addrs()[0])
		cb := sessionTo(t, b, a.Addrs()[0])
		const n = 50
		for i := 1; i <= n; i++ {
			send(t, ca, ping(uint64(i)))
			send(t, cb, ping(uint64(i)))
		}
		// Each side receives n pings and n pongs.
		WaitUntil(t, 20*time.Second, "pings and pongs", func() bool { return ar.count() == 2*n && br.count() == 2*n })
		if ar.conns() != 1 || br.conns() != 1 {
			t.Fatalf("round %d: messages arrived on %d and %d connections, want one session each", round, ar.conns(), br.conns())
		}
		for _, x := range []struct {
			r *lrec
			c gomsgr.Connection
		}{{ar, ca}, {br, cb}} {
			checkInOrder(t, "pings", x.r.ofKind(msgPing, x.c), n)
			checkInOrder(t, "pongs", x.r.ofKind(msgPong, x.c), n)
		}
		t.Logf("round %d: a %+v", round, a.SessionStats())
		t.Logf("round %d: b %+v", round, b.SessionStats())
		if r := a.SessionStats().Replacements + b.SessionStats().Replacements; r != 1 {
			t.Fatalf("round %d: %d sockets moved onto an existing session, want 1 (the race's winner)", round, r)
		}
		if ar.events("reset")+br.events("reset")+ar.events("remote_reset")+br.events("remote_reset") != 0 {
			t.Fatalf("round %d: resets: %v %v", round, ar.allEvents(), br.allEvents())
		}
	}
}

// testReconnectRace is Ceph's ReconnectRaceTest under injected socket
// failures: two lossless peers exchange messages both ways while sockets
// fail on both sides, so that both reconnect at once (SESSION_RECONNECT
// crossing, WAIT, RETRY); every message arrives once and in order, on one
// session per side.
func testReconnectRace(t *testing.T, newMsgr Factory) {
	inj := testhooks.Inject{SocketFailures: 25}
	a, ar := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.LosslessPeer(0), bind: true, echo: true, inject: inj, initialBkoff: time.Millisecond})
	b, br := newLmsgr(t, newMsgr, lopts{name: osd1Name, pol: gomsgr.LosslessPeer(0), bind: true, echo: true, inject: inj, initialBkoff: time.Millisecond})
	ca := sessionTo(t, a, b.Addrs()[0])
	cb := sessionTo(t, b, a.Addrs()[0])
	// At least 300 each way, in bursts of 30, and more until a failure
	// was injected and someone reconnected (few system calls may all
	// pass 1 in 25).
	injected := func() bool {
		sa, sb := a.SessionStats(), b.SessionStats()
		return sa.InjectedSocketFailures+sb.InjectedSocketFailures > 0 && sa.Reconnects+sb.Reconnects > 0
	}
	n := 0
	for n < 300 || (n < 3000 && !injected()) {
		for k := 0; k < 30; k++ {
			n++
			send(t, ca, ping(uint64(n)))
			send(t, cb, ping(uint64(n)))
		}
		time.Sleep(5 * time.Millisecond) // pacing: several writes, not one batch
	}
	WaitOrDump(t, 60*time.Second, "pings and pongs", func() bool { return ar.count() == 2*n && br.count() == 2*n }, a, b)
	for _, x := range []struct {
		r *lrec
		c gomsgr.Connection
	}{{ar, ca}, {br, cb}} {
		checkInOrder(t, "pings", x.r.ofKind(msgPing, x.c), n)
		checkInOrder(t, "pongs", x.r.ofKind(msgPong, x.c), n)
	}
	sa, sb := a.SessionStats(), b.SessionStats()
	t.Logf("a %+v", sa)
	t.Logf("b %+v", sb)
	if sa.InjectedSocketFailures+sb.InjectedSocketFailures == 0 || sa.Reconnects+sb.Reconnects == 0 {
		t.Fatal("no fault injected or no reconnect: the test proved nothing")
	}
}

// testReceiveDelayKeepsOrder injects receive delays (Ceph's
// ms_inject_delay_*) for messages from OSDs: they are held back at random,
// and still delivered in order, with socket failures on top.
func testReceiveDelayKeepsOrder(t *testing.T, newMsgr Factory) {
	srv, _ := newLmsgr(t, newMsgr, lopts{name: osdName, pol: gomsgr.StatefulServer(0), bind: true, echo: true,
		inject: testhooks.Inject{SocketFailures: 40}})
	cli, cr := newLmsgr(t, newMsgr, lopts{name: clientName, pol: gomsgr.LosslessClient(0), initialBkoff: time.Millisecond,
		inject: testhooks.Inject{DelayType: gomsgr.EntityOSD, DelayMax: 5 * time.Millisecond, DelayProbability: 0.2}})
	c := sessionTo(t, cli, srv.Addrs()[0])
	const n = 300
	for i := 1; i <= n; i++ {
		send(t, c, ping(uint64(i)))
	}
	WaitOrDump(t, 60*time.Second, "all pongs", func() bool { return cr.count() >= n }, srv, cli)
	checkInOrder(t, "client", cr.tidsOf(c), n)
	if st := cli.SessionStats(); st.InjectedRecvDelays == 0 {
		t.Fatalf("no delay injected: %+v", st)
	}
}
