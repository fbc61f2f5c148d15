package msgrtest

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// enginePeer is a msgr2 server driven by the session engine over a plain
// socket, so that a test decides exactly when it acknowledges.
type enginePeer struct {
	eng *session.Engine
	nc  net.Conn
	got atomic.Int64
	buf []byte
}

func (p *enginePeer) Ready(*session.Engine) {}
func (p *enginePeer) Deliver(*msgr2.MsgHeader2, []byte, []byte, []byte) error {
	p.got.Add(1)
	return nil
}
func (p *enginePeer) Acked(uint64) {}

func (p *enginePeer) flush(t *testing.T) {
	t.Helper()
	if out := p.eng.Output(); len(out) > 0 {
		if _, err := p.nc.Write(out); err != nil {
			t.Fatalf("peer: write: %v", err)
		}
		p.eng.Advance(len(out))
	}
}

// pump reads and feeds until cond holds.
func (p *enginePeer) pump(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tmp := make([]byte, 64<<10)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("peer: condition not reached in 10s")
		}
		if err := p.nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, _ := p.nc.Read(tmp) // a timeout just polls cond again
		p.buf = append(p.buf, tmp[:n]...)
		k, _, err := p.eng.Feed(p.buf)
		if err != nil {
			t.Fatal(err)
		}
		p.buf = p.buf[k:]
		p.flush(t)
	}
}

// unacker is a connection that counts its unacknowledged messages (both
// of ours).
type unacker interface {
	gomsgr.Connection
	Unacked() int
}

// testKeepsUntilAcked: with a lossless policy, written messages stay in the
// sent list until the peer's ACK covers them; with a lossy one they are
// released once written.
func testKeepsUntilAcked(t *testing.T, newMsgr Factory, lossless bool) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // cleanup: a failed close changes no result
	pol := gomsgr.LossyClient(0)
	if lossless {
		pol = gomsgr.LosslessClient(0)
	}
	cli := newMsgr(t, Config{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 3}, Workers: 1})
	t.Cleanup(func() { shutdown(t, cli) })
	Start(t, cli, pol)
	ap := netip.MustParseAddrPort(ln.Addr().String())
	c, err := cli.ConnectTo(gomsgr.EntityOSD, gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: ap})
	if err != nil {
		t.Fatal(err)
	}
	cc, ok := c.(unacker)
	if !ok {
		t.Fatalf("%T has no Unacked method", c)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nc.Close() }() // cleanup: a failed close changes no result
	p := &enginePeer{nc: nc}
	p.eng = session.New(session.Config{Role: session.Server, Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1},
		Addrs: gomsgr.AddrVec{{Type: msgr2.AddrMsgr2, Addr: ap}}, Policy: func(gomsgr.EntityType) gomsgr.Policy { return gomsgr.StatefulServer(0) }}, p)
	p.eng.Start()
	p.flush(t)
	var released atomic.Int64
	for i := 0; i < 50; i++ {
		m := &gomsgr.Message{Type: MsgTest, Data: make([]byte, 100)}
		m.SetReleaser(func(*gomsgr.Message, any) { released.Add(1) }, nil)
		send(t, c, m)
	}
	p.pump(t, func() bool { return p.got.Load() == 50 })
	if !lossless {
		WaitUntil(t, 10*time.Second, "lossy messages released once written", func() bool { return released.Load() == 50 })
		if cc.Unacked() != 0 {
			t.Fatalf("lossy connection keeps %d messages", cc.Unacked())
		}
		return
	}
	// Nothing acknowledged yet: all 50 are kept.
	WaitUntil(t, 10*time.Second, "50 unacked messages", func() bool { return cc.Unacked() == 50 })
	if r := released.Load(); r != 0 {
		t.Fatalf("%d messages released before any ack", r)
	}
	// Acknowledge up to 30.
	ack := msgr2.AppendControl(nil, p.eng.Revision(), &msgr2.Ack{Seq: 30})
	if _, err := nc.Write(ack); err != nil {
		t.Fatalf("writing ACK 30: %v", err)
	}
	WaitUntil(t, 10*time.Second, "30 released after ACK 30", func() bool { return released.Load() == 30 })
	if cc.Unacked() != 20 {
		t.Fatalf("after ACK 30: %d unacked, want 20", cc.Unacked())
	}
	// The standalone ACK our engine queues acknowledges the rest.
	p.eng.QueueAck() // the peer received all 50
	p.flush(t)
	WaitUntil(t, 10*time.Second, "all released after ACK 50", func() bool { return released.Load() == 50 && cc.Unacked() == 0 })
}
