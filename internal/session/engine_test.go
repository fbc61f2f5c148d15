package session

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

type delivered struct {
	h                   msgr2.MsgHeader2
	front, middle, data []byte
}

type recSink struct {
	ready int
	msgs  []delivered
	acked uint64
}

func (s *recSink) Ready(*Engine) { s.ready++ }
func (s *recSink) Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error {
	s.msgs = append(s.msgs, delivered{*h, bytes.Clone(front), bytes.Clone(middle), bytes.Clone(data)})
	return nil
}
func (s *recSink) Acked(seq uint64) { s.acked = seq }

var (
	cliAddr = msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Nonce: 1, Addr: netip.MustParseAddrPort("127.0.0.1:40000")}
	srvAddr = msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Nonce: 2, Addr: netip.MustParseAddrPort("127.0.0.1:6800")}
)

func pair(t *testing.T, cpol, spol gomsgr.Policy) (c, s *Engine, cs, ss *recSink) {
	t.Helper()
	cs, ss = &recSink{}, &recSink{}
	var gseq uint64
	next := func(past uint64) uint64 { gseq = max(gseq, past) + 1; return gseq }
	c = New(Config{Role: Client, Name: msgr2.EntityName{Type: msgr2.EntityClient, Num: 4100}, Addrs: msgr2.AddrVec{cliAddr},
		PeerType: msgr2.EntityOSD, PeerAddr: srvAddr, Policy: func(msgr2.EntityType) gomsgr.Policy { return cpol }, GlobalSeq: next}, cs)
	s = New(Config{Role: Server, Name: msgr2.EntityName{Type: msgr2.EntityOSD, Num: 3}, Addrs: msgr2.AddrVec{srvAddr},
		PeerAddr: cliAddr, Policy: func(msgr2.EntityType) gomsgr.Policy { return spol }, GlobalSeq: next}, ss)
	c.Start()
	s.Start()
	return c, s, cs, ss
}

// pump moves bytes between the engines, in chunks of at most chunk bytes,
// until neither has output left. It returns the first error.
func pump(t *testing.T, a, b *Engine, chunk int) error {
	t.Helper()
	var inA, inB []byte
	for i := 0; i < 10000; i++ {
		moved := false
		if out := a.Output(); len(out) > 0 {
			n := min(len(out), chunk)
			inB = append(inB, out[:n]...)
			a.Advance(n)
			moved = true
		}
		if out := b.Output(); len(out) > 0 {
			n := min(len(out), chunk)
			inA = append(inA, out[:n]...)
			b.Advance(n)
			moved = true
		}
		if len(inA) > 0 && a.State() != StateClosed {
			n, _, err := a.Feed(inA)
			inA = inA[n:]
			if err != nil {
				return fmt.Errorf("a: %w", err)
			}
		}
		if len(inB) > 0 && b.State() != StateClosed {
			n, _, err := b.Feed(inB)
			inB = inB[n:]
			if err != nil {
				return fmt.Errorf("b: %w", err)
			}
		}
		if !moved && len(a.Output()) == 0 && len(b.Output()) == 0 {
			return nil
		}
	}
	t.Fatal("pump did not settle")
	return nil
}

func TestHandshakeAndMessages(t *testing.T) {
	for _, chunk := range []int{1, 7, 64, 1 << 20} {
		t.Run(fmt.Sprint("chunk", chunk), func(t *testing.T) {
			c, s, cs, ss := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
			if err := pump(t, c, s, chunk); err != nil {
				t.Fatal(err)
			}
			if c.State() != StateReady || s.State() != StateReady || cs.ready != 1 || ss.ready != 1 {
				t.Fatalf("states %v/%v, ready %d/%d", c.State(), s.State(), cs.ready, ss.ready)
			}
			if name, _, _ := s.Peer(); name != (msgr2.EntityName{Type: msgr2.EntityClient, Num: 4100}) {
				t.Fatalf("server sees peer %v", name)
			}
			if name, addrs, _ := c.Peer(); name.Num != 3 || len(addrs) != 1 || addrs[0] != srvAddr {
				t.Fatalf("client sees peer %v at %v", name, addrs)
			}
			if s.PeerType() != msgr2.EntityClient || !s.Policy().Lossy {
				t.Fatalf("server: peer type %v, lossy %v", s.PeerType(), s.Policy().Lossy)
			}
			if c.LearnedAddr() != cliAddr {
				t.Fatalf("client learned %v, want %v", c.LearnedAddr(), cliAddr)
			}
			if c.Revision() != msgr2.Rev1 {
				t.Fatalf("revision %v, want rev1", c.Revision())
			}
			// Three messages client → server, framed as the caller writes
			// them, fed in chunks.
			var wire []byte
			for i := 1; i <= 3; i++ {
				h := msgr2.MsgHeader2{Type: 42, Priority: 127, Tid: uint64(i)}
				c.PrepareMessage(&h)
				var mf msgr2.MessageFrame
				mf.Encode(c.Revision(), &h, []byte{byte(i)}, nil, bytes.Repeat([]byte{byte(i)}, i*1000))
				wire = mf.AppendTo(wire)
			}
			if err := feedChunks(s, wire, chunk); err != nil {
				t.Fatal(err)
			}
			if len(ss.msgs) != 3 {
				t.Fatalf("server got %d messages, want 3", len(ss.msgs))
			}
			for i, m := range ss.msgs {
				n := i + 1
				if m.h.Seq != uint64(n) || m.h.Tid != uint64(n) || m.h.Type != 42 || !bytes.Equal(m.front, []byte{byte(n)}) ||
					!bytes.Equal(m.data, bytes.Repeat([]byte{byte(n)}, n*1000)) {
					t.Fatalf("message %d: header %+v front %v data %d bytes", n, m.h, m.front, len(m.data))
				}
			}
			// The server owes an ack; a keepalive gets answered.
			if !s.AckPending() {
				t.Fatal("no ack pending after 3 messages")
			}
			s.QueueAck()
			c.QueueKeepalive(time.Unix(1700000000, 5))
			if err := pump(t, c, s, chunk); err != nil {
				t.Fatal(err)
			}
			if cs.acked != 3 {
				t.Fatalf("client saw ack %d, want 3", cs.acked)
			}
			if got := c.LastKeepaliveAck(); got != (msgr2.UTime{Sec: 1700000000, Nsec: 5}) {
				t.Fatalf("keepalive ack stamp %+v", got)
			}
		})
	}
}

// feedChunks feeds wire to e in chunks, keeping unconsumed bytes as a
// connection's read buffer would.
func feedChunks(e *Engine, wire []byte, chunk int) error {
	var buf []byte
	for len(wire) > 0 {
		n := min(len(wire), chunk)
		buf = append(buf, wire[:n]...)
		wire = wire[n:]
		k, _, err := e.Feed(buf)
		if err != nil {
			return err
		}
		buf = buf[k:]
	}
	if len(buf) != 0 {
		return fmt.Errorf("%d bytes left unconsumed", len(buf))
	}
	return nil
}

func TestWrongPeerType(t *testing.T) {
	c, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
	s.cfg.Name.Type = msgr2.EntityMon // the client dialled an OSD
	err := pump(t, c, s, 1<<20)
	if !errors.Is(err, ErrPeerType) {
		t.Fatalf("got %v, want ErrPeerType", err)
	}
}

func TestMissingFeatures(t *testing.T) {
	spol := gomsgr.StatelessServer(0)
	spol.FeaturesRequired = 1 << 62
	cpol := gomsgr.LossyClient(0)
	cpol.FeaturesSupported = FeaturesPacific &^ (1 << 62)
	c, s, cs, ss := pair(t, cpol, spol)
	err := pump(t, c, s, 1<<20)
	if !errors.Is(err, ErrMissingFeatures) {
		t.Fatalf("got %v, want ErrMissingFeatures", err)
	}
	// The server refused and said why; the client must also fail on it.
	if out := s.Output(); len(out) > 0 {
		if _, _, err := c.Feed(out); !errors.Is(err, ErrMissingFeatures) {
			t.Fatalf("client got %v on IDENT_MISSING_FEATURES", err)
		}
	}
	if cs.ready != 0 || ss.ready != 0 {
		t.Fatal("a side became ready despite missing features")
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"garbage banner", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), msgr2.ErrBadBanner},
		{"v1 banner", []byte("ceph v027\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), msgr2.ErrV1Banner},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
			_, _, err := s.Feed(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if s.State() != StateClosed {
				t.Fatalf("state %v after bad input, want closed", s.State())
			}
		})
	}
	t.Run("message before handshake", func(t *testing.T) {
		_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
		in := msgr2.AppendBanner(nil, msgr2.LocalBanner)
		h := msgr2.MsgHeader2{Seq: 1, Type: 42}
		var mf msgr2.MessageFrame
		mf.Encode(msgr2.Rev1, &h, []byte("x"), nil, nil)
		in = mf.AppendTo(in)
		if _, _, err := s.Feed(in); !errors.Is(err, ErrProtocol) {
			t.Fatalf("got %v, want ErrProtocol", err)
		}
	})
	t.Run("bad crc", func(t *testing.T) {
		_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
		in := msgr2.AppendBanner(nil, msgr2.LocalBanner)
		hello := msgr2.AppendControl(nil, msgr2.Rev1, &msgr2.Hello{EntityType: msgr2.EntityClient, PeerAddr: srvAddr})
		hello[len(hello)-1] ^= 0xff
		if _, _, err := s.Feed(append(in, hello...)); !errors.Is(err, msgr2.ErrBadCRC) {
			t.Fatalf("got %v, want ErrBadCRC", err)
		}
	})
	t.Run("huge segment", func(t *testing.T) {
		_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
		s.fr.MaxSegmentBytes = 1 << 20
		in := msgr2.AppendBanner(nil, msgr2.LocalBanner)
		p := msgr2.Preamble{Tag: msgr2.TagMessage, NumSegments: 1}
		p.Segments[0].Len = 0xffffffff
		in = msgr2.AppendPreamble(in, &p)
		if _, _, err := s.Feed(in); !errors.Is(err, msgr2.ErrSegmentTooLarge) {
			t.Fatalf("got %v, want ErrSegmentTooLarge", err)
		}
	})
	t.Run("auth method refused", func(t *testing.T) {
		_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
		in := msgr2.AppendBanner(nil, msgr2.LocalBanner)
		in = msgr2.AppendControl(in, msgr2.Rev1, &msgr2.Hello{EntityType: msgr2.EntityClient, PeerAddr: srvAddr})
		req := msgr2.AppendControl(nil, msgr2.Rev1, &msgr2.AuthRequest{Method: msgr2.AuthCephx, PreferredModes: []msgr2.ConMode{msgr2.ConModeCRC}})
		// A refused method leaves the client free to offer another...
		if n, _, err := s.Feed(append(in, req...)); err != nil || n != len(in)+len(req) || s.State() != StateAuth {
			t.Fatalf("first refusal: consumed %d of %d, %v, state %v; want all, nil, auth", n, len(in)+len(req), err, s.State())
		}
		// ...up to maxAuthRefusals times.
		var more []byte
		for range maxAuthRefusals - 1 {
			more = append(more, req...)
		}
		if _, _, err := s.Feed(more); !errors.Is(err, ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
		// It answered each with AUTH_BAD_METHOD before closing.
		out := s.Output()
		_, bn, _ := msgr2.ParseBanner(out)
		r := msgr2.FrameReader{Rev: msgr2.Rev1}
		out = out[bn:]
		var tags []msgr2.Tag
		for len(out) > 0 {
			f, n, err := r.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			tags = append(tags, f.Tag())
			out = out[n:]
		}
		if len(tags) != 1+maxAuthRefusals || tags[maxAuthRefusals] != msgr2.TagAuthBadMethod {
			t.Fatalf("server wrote %v, want HELLO and %d AUTH_BAD_METHOD", tags, maxAuthRefusals)
		}
	})
}

func TestRev0(t *testing.T) {
	c, s, _, ss := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
	c.cfg.NoRevision1 = true
	c.out = msgr2.AppendBanner(c.out[:0], msgr2.Banner{})
	if err := pump(t, c, s, 5); err != nil {
		t.Fatal(err)
	}
	if c.Revision() != msgr2.Rev0 || s.Revision() != msgr2.Rev0 || ss.ready != 1 {
		t.Fatalf("revisions %v/%v ready %d", c.Revision(), s.Revision(), ss.ready)
	}
}

func TestSteadyStateZeroAllocs(t *testing.T) {
	c, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
	if err := pump(t, c, s, 1<<20); err != nil {
		t.Fatal(err)
	}
	s.sink = nopSink{}
	var mf msgr2.MessageFrame
	front := make([]byte, 64)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		h := msgr2.MsgHeader2{Type: 42, Priority: 127}
		c.PrepareMessage(&h)
		mf.Encode(c.Revision(), &h, front, nil, nil)
		buf = mf.AppendTo(buf[:0])
		if _, _, err := s.Feed(buf); err != nil {
			t.Fatal(err)
		}
		s.QueueAck()
		s.Advance(len(s.Output()))
	})
	if allocs != 0 {
		t.Fatalf("encode + feed + ack of one message: %.1f allocs, want 0", allocs)
	}
}

type nopSink struct{}

func (nopSink) Ready(*Engine)                                           {}
func (nopSink) Deliver(*msgr2.MsgHeader2, []byte, []byte, []byte) error { return nil }
func (nopSink) Acked(uint64)                                            {}

func TestDuplicateDropped(t *testing.T) {
	c, s, _, ss := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
	if err := pump(t, c, s, 1<<20); err != nil {
		t.Fatal(err)
	}
	h := msgr2.MsgHeader2{Type: 42}
	c.PrepareMessage(&h)
	var mf msgr2.MessageFrame
	mf.Encode(c.Revision(), &h, []byte("once"), nil, nil)
	frame := mf.AppendTo(nil)
	for i := 0; i < 3; i++ {
		if _, _, err := s.Feed(frame); err != nil {
			t.Fatal(err)
		}
	}
	if len(ss.msgs) != 1 || s.Duplicates() != 2 {
		t.Fatalf("delivered %d, duplicates %d; want 1 and 2", len(ss.msgs), s.Duplicates())
	}
}
