package conn_test

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// peer is a msgr2 server driven by the session engine over a plain socket,
// so that a test decides exactly when it acknowledges.
type peer struct {
	eng *session.Engine
	nc  net.Conn
	got atomic.Int64
	buf []byte
}

func (p *peer) Ready(*session.Engine) {}
func (p *peer) Deliver(*msgr2.MsgHeader2, []byte, []byte, []byte) error {
	p.got.Add(1)
	return nil
}
func (p *peer) Acked(uint64) {}

func (p *peer) flush(t *testing.T) {
	if out := p.eng.Output(); len(out) > 0 {
		if _, err := p.nc.Write(out); err != nil {
			t.Error(err)
		}
		p.eng.Advance(len(out))
	}
}

// pump reads and feeds until cond holds.
func (p *peer) pump(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tmp := make([]byte, 64<<10)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("peer: condition not reached in 10s")
		}
		must(t, p.nc.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		n, _ := p.nc.Read(tmp)
		p.buf = append(p.buf, tmp[:n]...)
		k, _, err := p.eng.Feed(p.buf)
		if err != nil {
			t.Fatal(err)
		}
		p.buf = p.buf[k:]
		p.flush(t)
	}
}

// TestLosslessKeepsUntilAcked: with a lossless policy, written messages stay
// in the sent list until the peer's ACK covers them; with a lossy one they
// are released once written.
func TestLosslessKeepsUntilAcked(t *testing.T) {
	for _, lossless := range []bool{true, false} {
		name := "lossy"
		if lossless {
			name = "lossless"
		}
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ln.Close() }() // cleanup: a failed close changes no result
			cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 3}, Workers: 1})
			pol := gomsgr.LossyClient(0)
			if lossless {
				pol = gomsgr.LosslessClient(0)
			}
			must(t, cli.SetDefaultPolicy(pol))
			must(t, cli.Start())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			defer shutdown(ctx, t, cli)
			ap := netip.MustParseAddrPort(ln.Addr().String())
			c, _ := cli.ConnectTo(gomsgr.EntityOSD, gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: ap})
			nc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = nc.Close() }() // cleanup: a failed close changes no result
			p := &peer{nc: nc}
			p.eng = session.New(session.Config{Role: session.Server, Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1},
				Addrs: gomsgr.AddrVec{{Type: msgr2.AddrMsgr2, Addr: ap}}, Policy: func(gomsgr.EntityType) gomsgr.Policy { return gomsgr.StatefulServer(0) }}, p)
			p.eng.Start()
			p.flush(t)
			var released atomic.Int64
			for i := 0; i < 50; i++ {
				m := &gomsgr.Message{Type: 0x7001, Data: make([]byte, 100)}
				m.SetReleaser(func(*gomsgr.Message, any) { released.Add(1) }, nil)
				must(t, c.SendMessage(m))
			}
			p.pump(t, func() bool { return p.got.Load() == 50 })
			cc := c.(*conn.Connection)
			if !lossless {
				waitFor(t, 10*time.Second, "lossy messages released once written", func() bool { return released.Load() == 50 })
				if cc.Unacked() != 0 {
					t.Fatalf("lossy connection keeps %d messages", cc.Unacked())
				}
				return
			}
			// Nothing acknowledged yet: all 50 are kept.
			waitFor(t, 10*time.Second, "50 unacked messages", func() bool { return cc.Unacked() == 50 })
			if r := released.Load(); r != 0 {
				t.Fatalf("%d messages released before any ack", r)
			}
			// Acknowledge up to 30.
			ack := msgr2.AppendControl(nil, p.eng.Revision(), &msgr2.Ack{Seq: 30})
			if _, err := nc.Write(ack); err != nil {
				t.Fatalf("writing ACK 30: %v", err)
			}
			waitFor(t, 10*time.Second, "30 released after ACK 30", func() bool { return released.Load() == 30 })
			if cc.Unacked() != 20 {
				t.Fatalf("after ACK 30: %d unacked, want 20", cc.Unacked())
			}
			// The standalone ACK our engine queues acknowledges the rest.
			p.eng.QueueAck() // the peer received all 50
			p.flush(t)
			waitFor(t, 10*time.Second, "all released after ACK 50", func() bool { return released.Load() == 50 && cc.Unacked() == 0 })
		})
	}
}
