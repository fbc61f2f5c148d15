package session

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// sessSink is a recSink that also keeps a lossless session the way a
// messenger connection does: it decides session requests with decide
// (default: what a messenger without an existing session answers), and
// models the front of the out-queue as the seqs of the requeued messages.
type sessSink struct {
	recSink
	decide   func(req *Request) Verdict
	reqs     []Request // every Existing call
	requeued []uint64  // seqs of the requeued messages, oldest first
	discards []uint64  // every DiscardRequeued argument
	resets   int       // ResetSession calls
}

func (s *sessSink) Existing(req *Request) Verdict {
	r := *req
	r.Addrs = slices.Clone(req.Addrs)
	s.reqs = append(s.reqs, r)
	if s.decide != nil {
		return s.decide(req)
	}
	if req.Reconnect {
		return Verdict{Kind: VerdictReset, Full: true}
	}
	return Verdict{Kind: VerdictNew}
}

func (s *sessSink) DiscardRequeued(seq uint64) (int, bool) {
	s.discards = append(s.discards, seq)
	n := 0
	for n < len(s.requeued) && s.requeued[n] <= seq {
		n++
	}
	s.requeued = s.requeued[n:]
	return n, len(s.requeued) > 0
}

func (s *sessSink) ResetSession() {
	s.resets++
	s.requeued = nil
}

var _ SessionSink = (*sessSink)(nil)

// verdicts returns a decide function answering with vs in turn (and
// failing the test when asked once too often).
func verdicts(t *testing.T, vs ...Verdict) func(*Request) Verdict {
	return func(req *Request) Verdict {
		if len(vs) == 0 {
			t.Errorf("unexpected session request %+v", *req)
			return Verdict{Kind: VerdictStop}
		}
		v := vs[0]
		vs = vs[1:]
		return v
	}
}

// tmsgr is what the engines of one messenger share: the global_seq counter
// and a deterministic cookie generator.
type tmsgr struct {
	gs     GlobalSeq
	cookie uint64
}

func (m *tmsgr) newCookie() uint64 { m.cookie++; return m.cookie }

func (m *tmsgr) client(pol gomsgr.Policy, sink Sink) *Engine {
	return New(Config{Role: Client, Name: msgr2.EntityName{Type: msgr2.EntityClient, Num: 4100}, Addrs: msgr2.AddrVec{cliAddr},
		PeerType: msgr2.EntityOSD, PeerAddr: srvAddr, Policy: func(msgr2.EntityType) gomsgr.Policy { return pol },
		GlobalSeq: m.gs.Next, NewCookie: m.newCookie}, sink)
}

func (m *tmsgr) server(pol gomsgr.Policy, sink Sink) *Engine {
	e := New(Config{Role: Server, Name: msgr2.EntityName{Type: msgr2.EntityOSD, Num: 3}, Addrs: msgr2.AddrVec{srvAddr},
		PeerAddr: cliAddr, Policy: func(msgr2.EntityType) gomsgr.Policy { return pol },
		GlobalSeq: m.gs.Next, NewCookie: m.newCookie}, sink)
	e.Start()
	return e
}

// tapped is one frame seen on the wire.
type tapped struct {
	tag     msgr2.Tag
	payload []byte
}

// tap decodes one direction of one socket: a banner, then frames of the
// revision eng (the writer) negotiated; rev1 without eng.
type tap struct {
	eng     *Engine
	started bool
	revSet  bool
	fr      msgr2.FrameReader
	buf     []byte
	frames  []tapped
}

func (tp *tap) write(t *testing.T, b []byte) {
	t.Helper()
	tp.buf = append(tp.buf, b...)
	for len(tp.buf) > 0 {
		if !tp.started {
			_, n, err := msgr2.ParseBanner(tp.buf)
			if err == msgr2.ErrShort {
				return
			}
			if err != nil {
				t.Fatalf("tap: banner: %v", err)
			}
			tp.buf, tp.started = tp.buf[n:], true
			continue
		}
		if !tp.revSet {
			tp.revSet, tp.fr.Rev = true, msgr2.Rev1
			if tp.eng != nil {
				tp.fr.Rev = tp.eng.Revision()
			}
		}
		f, n, err := tp.fr.Decode(tp.buf)
		if err == msgr2.ErrShort {
			return
		}
		if err != nil {
			t.Fatalf("tap: frame: %v", err)
		}
		tp.frames = append(tp.frames, tapped{f.Tag(), bytes.Clone(f.Payload())})
		tp.buf = tp.buf[n:]
	}
}

func (tp *tap) tags() []msgr2.Tag {
	var tags []msgr2.Tag
	for _, f := range tp.frames {
		tags = append(tags, f.tag)
	}
	return tags
}

// find returns the payloads of the frames with tag.
func (tp *tap) find(tag msgr2.Tag) [][]byte {
	var ps [][]byte
	for _, f := range tp.frames {
		if f.tag == tag {
			ps = append(ps, f.payload)
		}
	}
	return ps
}

// pumpTap is pump (whole outputs at a time) with the traffic of a recorded
// in ta and that of b in tb.
func pumpTap(t *testing.T, a, b *Engine, ta, tb *tap) error {
	t.Helper()
	ta.eng, tb.eng = a, b
	var inA, inB []byte
	for i := 0; i < 1000; i++ {
		moved := false
		if out := a.Output(); len(out) > 0 {
			ta.write(t, out)
			inB = append(inB, out...)
			a.Advance(len(out))
			moved = true
		}
		if out := b.Output(); len(out) > 0 {
			tb.write(t, out)
			inA = append(inA, out...)
			b.Advance(len(out))
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
			if len(inA) > 0 || len(inB) > 0 {
				return fmt.Errorf("settled with %d/%d bytes unconsumed", len(inA), len(inB))
			}
			return nil
		}
	}
	t.Fatal("pumpTap did not settle")
	return nil
}

// decodeFrames decodes control frames an engine queued after the banner
// exchange.
func decodeFrames(t *testing.T, rev msgr2.Revision, b []byte) []tapped {
	t.Helper()
	tp := tap{started: true, revSet: true, fr: msgr2.FrameReader{Rev: rev}}
	tp.write(t, b)
	if len(tp.buf) != 0 {
		t.Fatalf("%d bytes of a partial frame", len(tp.buf))
	}
	return tp.frames
}

// message encodes the next message from e (tid identifies it).
func message(e *Engine, tid uint64) (frame []byte, seq uint64) {
	h := msgr2.MsgHeader2{Type: 42, Priority: 127, Tid: tid}
	e.PrepareMessage(&h)
	var mf msgr2.MessageFrame
	mf.Encode(e.Revision(), &h, []byte(fmt.Sprint("front ", tid)), nil, bytes.Repeat([]byte{byte(tid)}, 100))
	return mf.AppendTo(nil), h.Seq
}

// replay encodes a copy of an already sent message seq (as a peer that
// resends after a reconnect does).
func replay(rev msgr2.Revision, seq uint64) []byte {
	h := msgr2.MsgHeader2{Type: 42, Priority: 127, Tid: seq, Seq: seq}
	var mf msgr2.MessageFrame
	mf.Encode(rev, &h, []byte("replayed"), nil, nil)
	return mf.AppendTo(nil)
}

func feed(t *testing.T, e *Engine, b []byte) {
	t.Helper()
	n, _, err := e.Feed(b)
	if err != nil {
		t.Fatalf("feed: %v", err)
	}
	if n != len(b) {
		t.Fatalf("feed consumed %d of %d bytes", n, len(b))
	}
}

// flush feeds from's queued output to to.
func flush(t *testing.T, from, to *Engine) {
	t.Helper()
	out := from.Output()
	feed(t, to, out)
	from.Advance(len(out))
}

func seqsOf(msgs []delivered) []uint64 {
	var seqs []uint64
	for _, m := range msgs {
		seqs = append(seqs, m.h.Seq)
	}
	return seqs
}

func tidsOf(msgs []delivered) []uint64 {
	var tids []uint64
	for _, m := range msgs {
		tids = append(tids, m.h.Tid)
	}
	return tids
}

// session is a lossless client and a stateful server that opened a
// session, exchanged messages, and lost the socket.
type session struct {
	cm, sm *tmsgr
	c, s   *Engine   // the client and the original server connection
	cs, ss *sessSink // their sinks
	cc, sc uint64    // the session's cookies
}

// establish opens the session: client messages 1..3 (tids 1..3) of which
// the server received serverGot, acking the first; server messages 1..2,
// all received and none acked.
func establish(t *testing.T, serverGot int) *session {
	t.Helper()
	x := &session{cm: &tmsgr{cookie: 0xc000}, sm: &tmsgr{cookie: 0x5000}, cs: &sessSink{}, ss: &sessSink{}}
	x.c = x.cm.client(gomsgr.LosslessClient(0), x.cs)
	x.s = x.sm.server(gomsgr.StatefulServer(0), x.ss)
	x.c.Start()
	var tc, ts tap
	if err := pumpTap(t, x.c, x.s, &tc, &ts); err != nil {
		t.Fatal(err)
	}
	if x.c.State() != StateReady || x.s.State() != StateReady || x.cs.ready != 1 || x.ss.ready != 1 {
		t.Fatalf("handshake: states %v/%v, ready %d/%d", x.c.State(), x.s.State(), x.cs.ready, x.ss.ready)
	}
	if len(tc.find(msgr2.TagClientIdent)) != 1 || len(tc.find(msgr2.TagSessionReconnect)) != 0 {
		t.Fatalf("client sent %v", tc.tags())
	}
	// The server's sink was asked about a new session and said so.
	if len(x.ss.reqs) != 1 || x.ss.reqs[0].Reconnect || x.s.Verdict() != (Verdict{Kind: VerdictNew}) {
		t.Fatalf("server requests %+v, verdict %+v", x.ss.reqs, x.s.Verdict())
	}
	x.cc, x.sc = x.c.Cookies()
	if x.cc == 0 || x.sc == 0 {
		t.Fatalf("client cookies (%#x, %#x): want both set", x.cc, x.sc)
	}
	if cc, sc := x.s.Cookies(); cc != x.cc || sc != x.sc {
		t.Fatalf("server cookies (%#x, %#x), client's (%#x, %#x)", cc, sc, x.cc, x.sc)
	}
	if x.ss.reqs[0].ClientCookie != x.cc {
		t.Fatalf("request cookie %#x, client cookie %#x", x.ss.reqs[0].ClientCookie, x.cc)
	}
	if x.c.ConnectSeq() != 0 || x.s.ConnectSeq() != 0 {
		t.Fatalf("connect_seq %d/%d after the first handshake", x.c.ConnectSeq(), x.s.ConnectSeq())
	}

	for tid := uint64(1); tid <= 3; tid++ {
		f, seq := message(x.c, tid)
		if seq != tid {
			t.Fatalf("client message %d got seq %d", tid, seq)
		}
		if int(tid) <= serverGot {
			feed(t, x.s, f)
		}
		if tid == 1 {
			x.s.QueueAck()
			flush(t, x.s, x.c)
		}
	}
	if got := seqsOf(x.ss.msgs); len(got) != serverGot || x.s.InSeq() != uint64(serverGot) {
		t.Fatalf("server received seqs %v (in_seq %d), want %d", got, x.s.InSeq(), serverGot)
	}
	if x.cs.acked != 1 {
		t.Fatalf("client saw ack %d, want 1", x.cs.acked)
	}
	for tid := uint64(101); tid <= 102; tid++ {
		f, _ := message(x.s, tid)
		feed(t, x.c, f)
	}
	if got := seqsOf(x.cs.msgs); !slices.Equal(got, []uint64{1, 2}) || x.c.InSeq() != 2 {
		t.Fatalf("client received seqs %v (in_seq %d)", got, x.c.InSeq())
	}
	if x.c.OutSeq() != 3 || x.s.OutSeq() != 2 {
		t.Fatalf("out_seq %d/%d", x.c.OutSeq(), x.s.OutSeq())
	}
	return x
}

// fault loses the socket: both sides requeue what the peer did not ack
// (client: 2 and 3, server: 1 and 2), and the client restarts toward the
// server; it has a server cookie, so it will ask to reconnect.
func (x *session) fault(t *testing.T) {
	t.Helper()
	x.c.Faulted()
	x.cs.requeued = []uint64{2, 3}
	x.c.Requeued(2)
	x.ss.requeued = []uint64{1, 2}
	x.s.Requeued(2)
	if x.c.OutSeq() != 1 || x.s.OutSeq() != 0 {
		t.Fatalf("after requeueing, out_seq %d/%d, want 1/0", x.c.OutSeq(), x.s.OutSeq())
	}
	if x.c.ConnectSeq() != 1 {
		t.Fatalf("client connect_seq %d after a fault, want 1", x.c.ConnectSeq())
	}
	x.c.Restart(Client, srvAddr)
	if x.c.State() != StateBanner || len(x.c.Output()) != 0 {
		t.Fatalf("after Restart: state %v, %d bytes queued", x.c.State(), len(x.c.Output()))
	}
	x.c.Start()
}

// TestReconnectReplace is the lossless reconnect: the new server
// connection hands its socket to the existing session, which answers
// RECONNECT_OK; both sides drop what the other already had and the
// sequence numbers go on.
func TestReconnectReplace(t *testing.T) {
	cases := []struct {
		serverGot int  // of the client's messages 1..3
		rev0      bool // the new socket negotiates msgr2.0 framing
	}{{3, false}, {2, false}, {2, true}}
	for _, tc := range cases {
		serverGot := tc.serverGot
		t.Run(fmt.Sprintf("server got %d, rev0 %v", serverGot, tc.rev0), func(t *testing.T) {
			x := establish(t, serverGot)
			gseqBefore := x.c.gseq
			x.c.cfg.NoRevision1 = tc.rev0
			x.fault(t)
			wantRev := msgr2.Rev1
			if tc.rev0 {
				wantRev = msgr2.Rev0
			}
			if x.c.gseq <= gseqBefore {
				t.Fatalf("global_seq %d after restart, was %d", x.c.gseq, gseqBefore)
			}
			s2sink := &sessSink{}
			s2sink.decide = verdicts(t, Verdict{Kind: VerdictReplace})
			s2 := x.sm.server(gomsgr.StatefulServer(0), s2sink)
			var tc, ts tap
			err := pumpTap(t, x.c, s2, &tc, &ts)
			if !errors.Is(err, ErrReplaced) || !errors.Is(s2.Err(), ErrReplaced) || s2.State() != StateClosed {
				t.Fatalf("pump: %v; new server: %v, %v", err, s2.State(), s2.Err())
			}
			if !slices.Equal(tc.tags(), []msgr2.Tag{msgr2.TagHello, msgr2.TagAuthRequest, msgr2.TagAuthSignature, msgr2.TagSessionReconnect}) {
				t.Fatalf("client sent %v", tc.tags())
			}
			if len(ts.find(msgr2.TagServerIdent)) != 0 || len(ts.frames) != 3 {
				t.Fatalf("new server sent %v", ts.tags())
			}
			if x.c.State() != StateIdent || x.cs.ready != 1 {
				t.Fatalf("client %v, ready %d while reconnecting", x.c.State(), x.cs.ready)
			}
			req, v := s2.Replacement()
			if req == nil || v != (Verdict{Kind: VerdictReplace}) {
				t.Fatalf("Replacement = %+v, %+v", req, v)
			}
			want := Request{Reconnect: true, Addrs: msgr2.AddrVec{cliAddr}, ClientCookie: x.cc, ServerCookie: x.sc,
				GlobalSeq: x.c.gseq, ConnectSeq: 1, MsgSeq: 2}
			if !reqEqual(*req, want) {
				t.Fatalf("replacement request %+v, want %+v", *req, want)
			}
			if len(s2sink.reqs) != 1 || !reqEqual(s2sink.reqs[0], want) {
				t.Fatalf("new server's sink was asked %+v", s2sink.reqs)
			}
			if s2sink.ready != 0 || len(s2sink.discards) != 0 {
				t.Fatalf("new server: ready %d, discards %v", s2sink.ready, s2sink.discards)
			}

			// The existing session takes the socket over.
			if s2.Revision() != wantRev || x.s.Revision() != msgr2.Rev1 {
				t.Fatalf("revisions: new socket %v, old %v", s2.Revision(), x.s.Revision())
			}
			if err := x.s.Resume(s2, req, v); err != nil {
				t.Fatalf("Resume: %v", err)
			}
			if x.s.State() != StateReady || x.ss.ready != 2 || x.s.ConnectSeq() != 1 || x.s.Revision() != wantRev {
				t.Fatalf("resumed server: %v, ready %d, connect_seq %d, %v", x.s.State(), x.ss.ready, x.s.ConnectSeq(), x.s.Revision())
			}
			// The client had the server's messages 1 and 2.
			if !slices.Equal(x.ss.discards, []uint64{2}) || len(x.ss.requeued) != 0 || x.s.OutSeq() != 2 {
				t.Fatalf("server discards %v, left %v, out_seq %d", x.ss.discards, x.ss.requeued, x.s.OutSeq())
			}
			if x.ss.resets != 0 {
				t.Fatal("the server reset its session")
			}
			out := decodeFrames(t, wantRev, x.s.Output())
			if len(out) != 1 || out[0].tag != msgr2.TagSessionReconnectOK {
				t.Fatalf("resumed server queued %v", out)
			}
			var ok msgr2.SessionReconnectOK
			if err := ok.DecodePayload(out[0].payload); err != nil || ok.MsgSeq != uint64(serverGot) {
				t.Fatalf("RECONNECT_OK %+v (%v), want msg_seq %d", ok, err, serverGot)
			}
			flush(t, x.s, x.c)
			if x.c.State() != StateReady || x.cs.ready != 2 {
				t.Fatalf("client %v, ready %d after RECONNECT_OK", x.c.State(), x.cs.ready)
			}
			if !slices.Equal(x.cs.discards, []uint64{uint64(serverGot)}) {
				t.Fatalf("client discards %v, want [%d]", x.cs.discards, serverGot)
			}
			wantLeft := []uint64{3}[:3-serverGot]
			if !slices.Equal(x.cs.requeued, wantLeft) || x.c.OutSeq() != uint64(serverGot) {
				t.Fatalf("client left %v, out_seq %d", x.cs.requeued, x.c.OutSeq())
			}
			if x.cs.resets != 0 || len(x.cs.reqs) != 0 {
				t.Fatalf("client resets %d, requests %v", x.cs.resets, x.cs.reqs)
			}
			if cc, sc := x.c.Cookies(); cc != x.cc || sc != x.sc {
				t.Fatalf("client cookies changed to (%#x, %#x)", cc, sc)
			}
			if cc, sc := x.s.Cookies(); cc != x.cc || sc != x.sc {
				t.Fatalf("server cookies changed to (%#x, %#x)", cc, sc)
			}
			if x.c.ConnectSeq() != 1 {
				t.Fatalf("client connect_seq %d", x.c.ConnectSeq())
			}

			// A copy of the last message the server had is dropped;
			// the client resends what is left of its requeued messages
			// (tid 3 when it was lost), then a new one: no gap; a late copy
			// of message 2 is dropped too.
			wire := replay(wantRev, uint64(serverGot))
			for _, tid := range append(wantLeft, 4) {
				f, seq := message(x.c, tid)
				if seq != tid {
					t.Fatalf("tid %d sent with seq %d", tid, seq)
				}
				wire = append(wire, f...)
			}
			wire = append(wire, replay(wantRev, 2)...)
			feed(t, x.s, wire)
			if got := seqsOf(x.ss.msgs); !slices.Equal(got, []uint64{1, 2, 3, 4}) || !slices.Equal(tidsOf(x.ss.msgs), got) {
				t.Fatalf("server received seqs %v tids %v", got, tidsOf(x.ss.msgs))
			}
			if x.s.Duplicates() != 2 || x.s.InSeq() != 4 {
				t.Fatalf("server duplicates %d, in_seq %d", x.s.Duplicates(), x.s.InSeq())
			}
			// The server's next message is 3: the client had 1 and 2.
			f, seq := message(x.s, 103)
			feed(t, x.c, f)
			if seq != 3 || !slices.Equal(seqsOf(x.cs.msgs), []uint64{1, 2, 3}) || x.c.Duplicates() != 0 {
				t.Fatalf("server message seq %d; client received %v, duplicates %d", seq, seqsOf(x.cs.msgs), x.c.Duplicates())
			}
		})
	}
}

func reqEqual(a, b Request) bool {
	return slices.Equal(a.Addrs, b.Addrs) && a.Reconnect == b.Reconnect && a.ClientCookie == b.ClientCookie &&
		a.ServerCookie == b.ServerCookie && a.GlobalSeq == b.GlobalSeq && a.ConnectSeq == b.ConnectSeq && a.MsgSeq == b.MsgSeq
}

// reconnectTo runs the faulted client's handshake against a new server
// connection (of the server's messenger) reporting to sink, and returns
// the new server engine, the client's and the server's traffic, and
// pump's error.
func (x *session) reconnectTo(t *testing.T, sink Sink) (s2 *Engine, tc, ts *tap, err error) {
	t.Helper()
	s2 = x.sm.server(gomsgr.StatefulServer(0), sink)
	tc, ts = &tap{}, &tap{}
	err = pumpTap(t, x.c, s2, tc, ts)
	return s2, tc, ts, err
}

func sessionReset(t *testing.T, ts *tap) []bool {
	t.Helper()
	var fulls []bool
	for _, p := range ts.find(msgr2.TagSessionReset) {
		var r msgr2.SessionReset
		if err := r.DecodePayload(p); err != nil {
			t.Fatal(err)
		}
		fulls = append(fulls, r.Full)
	}
	return fulls
}

// TestReconnectResetFull: the server lost the session; the client resets
// its own and opens a new one.
func TestReconnectResetFull(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &sessSink{}
	sink.decide = verdicts(t, Verdict{Kind: VerdictReset, Full: true}, Verdict{Kind: VerdictNew})
	s2, tc, ts, err := x.reconnectTo(t, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sessionReset(t, ts), []bool{true}) {
		t.Fatalf("server sent %v", ts.tags())
	}
	if !slices.Equal(tc.tags()[3:], []msgr2.Tag{msgr2.TagSessionReconnect, msgr2.TagClientIdent}) {
		t.Fatalf("client sent %v", tc.tags())
	}
	if x.c.State() != StateReady || s2.State() != StateReady || x.cs.ready != 2 || sink.ready != 1 {
		t.Fatalf("states %v/%v ready %d/%d", x.c.State(), s2.State(), x.cs.ready, sink.ready)
	}
	if x.cs.resets != 1 || len(x.cs.requeued) != 0 {
		t.Fatalf("client resets %d, requeued left %v", x.cs.resets, x.cs.requeued)
	}
	if len(sink.reqs) != 2 || !sink.reqs[0].Reconnect || sink.reqs[1].Reconnect {
		t.Fatalf("requests %+v", sink.reqs)
	}
	cc, sc := x.c.Cookies()
	if cc == 0 || cc == x.cc || sink.reqs[1].ClientCookie != cc {
		t.Fatalf("new client cookie %#x (old %#x, ident %#x)", cc, x.cc, sink.reqs[1].ClientCookie)
	}
	if scc, ssc := s2.Cookies(); sc == 0 || sc == x.sc || ssc != sc || scc != cc {
		t.Fatalf("cookies: client (%#x, %#x), new server (%#x, %#x), old server cookie %#x", cc, sc, scc, ssc, x.sc)
	}
	if x.c.OutSeq() != 0 || x.c.InSeq() != 0 || x.c.ConnectSeq() != 0 {
		t.Fatalf("client out_seq %d in_seq %d connect_seq %d after a reset", x.c.OutSeq(), x.c.InSeq(), x.c.ConnectSeq())
	}
	f, seq := message(x.c, 7)
	feed(t, s2, f)
	if seq != 1 || !slices.Equal(seqsOf(sink.msgs), []uint64{1}) {
		t.Fatalf("first message of the new session: seq %d, server got %v", seq, seqsOf(sink.msgs))
	}
}

// TestReconnectResetNotFull: the server asks the client to resume the
// session establishment: the client keeps its cookie and its queue, drops
// the server cookie and connect_seq, and opens a new session with
// CLIENT_IDENT.
func TestReconnectResetNotFull(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &sessSink{}
	var atIdent struct{ cc, sc, cseq, inSeq uint64 }
	sink.decide = verdicts(t, Verdict{Kind: VerdictReset, Full: false}, Verdict{Kind: VerdictNew})
	decide := sink.decide
	sink.decide = func(req *Request) Verdict {
		if !req.Reconnect {
			atIdent.cc, atIdent.sc = x.c.Cookies()
			atIdent.cseq, atIdent.inSeq = x.c.ConnectSeq(), x.c.InSeq()
		}
		return decide(req)
	}
	s2, tc, ts, err := x.reconnectTo(t, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sessionReset(t, ts), []bool{false}) {
		t.Fatalf("server sent %v", ts.tags())
	}
	if !slices.Equal(tc.tags()[3:], []msgr2.Tag{msgr2.TagSessionReconnect, msgr2.TagClientIdent}) {
		t.Fatalf("client sent %v", tc.tags())
	}
	// When the client sent CLIENT_IDENT it had dropped the server's part.
	if atIdent.cc != x.cc || atIdent.sc != 0 || atIdent.cseq != 0 || atIdent.inSeq != 0 {
		t.Fatalf("client at CLIENT_IDENT: %+v (cookie was %#x)", atIdent, x.cc)
	}
	if x.c.State() != StateReady || s2.State() != StateReady || x.cs.ready != 2 || sink.ready != 1 {
		t.Fatalf("states %v/%v ready %d/%d", x.c.State(), s2.State(), x.cs.ready, sink.ready)
	}
	if x.cs.resets != 0 || !slices.Equal(x.cs.requeued, []uint64{2, 3}) {
		t.Fatalf("client resets %d, requeued %v", x.cs.resets, x.cs.requeued)
	}
	if len(sink.reqs) != 2 || sink.reqs[1].Reconnect || sink.reqs[1].ClientCookie != x.cc {
		t.Fatalf("requests %+v", sink.reqs)
	}
	cc, sc := x.c.Cookies()
	if _, ssc := s2.Cookies(); cc != x.cc || sc == 0 || sc == x.sc || sc != ssc {
		t.Fatalf("client cookies (%#x, %#x), new server cookie %#x, old (%#x, %#x)", cc, sc, ssc, x.cc, x.sc)
	}
	// The requeued messages keep their seqs and reach the new session.
	if x.c.OutSeq() != 1 || x.c.InSeq() != 0 {
		t.Fatalf("client out_seq %d in_seq %d", x.c.OutSeq(), x.c.InSeq())
	}
	f2, seq2 := message(x.c, 2)
	f3, seq3 := message(x.c, 3)
	feed(t, s2, append(f2, f3...))
	if seq2 != 2 || seq3 != 3 || !slices.Equal(seqsOf(sink.msgs), []uint64{2, 3}) || s2.Duplicates() != 0 {
		t.Fatalf("seqs %d, %d; new server got %v", seq2, seq3, seqsOf(sink.msgs))
	}
	// The new session never had seq 1: Ceph's "missed message?" gap.
	if s2.Skipped() != 1 {
		t.Fatalf("new server skipped %d, want 1", s2.Skipped())
	}
}

func TestReconnectRetry(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &sessSink{}
	sink.decide = verdicts(t, Verdict{Kind: VerdictRetry, Seq: 5}, Verdict{Kind: VerdictReplace})
	_, tc, ts, err := x.reconnectTo(t, sink)
	if !errors.Is(err, ErrReplaced) {
		t.Fatalf("pump: %v", err)
	}
	if len(ts.find(msgr2.TagSessionRetry)) != 1 || len(tc.find(msgr2.TagSessionReconnect)) != 2 {
		t.Fatalf("server sent %v, client %v", ts.tags(), tc.tags())
	}
	if len(sink.reqs) != 2 || sink.reqs[0].ConnectSeq != 1 || sink.reqs[1].ConnectSeq != 6 || !sink.reqs[1].Reconnect {
		t.Fatalf("requests %+v", sink.reqs)
	}
	// Only connect_seq moved.
	r0, r1 := sink.reqs[0], sink.reqs[1]
	r0.ConnectSeq = 6
	if !reqEqual(r0, r1) || x.c.ConnectSeq() != 6 {
		t.Fatalf("requests %+v then %+v; connect_seq %d", sink.reqs[0], r1, x.c.ConnectSeq())
	}
}

func TestReconnectRetryGlobal(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &sessSink{}
	sink.decide = verdicts(t, Verdict{Kind: VerdictRetryGlobal, Seq: 100}, Verdict{Kind: VerdictReplace})
	_, tc, ts, err := x.reconnectTo(t, sink)
	if !errors.Is(err, ErrReplaced) {
		t.Fatalf("pump: %v", err)
	}
	if len(ts.find(msgr2.TagSessionRetryGlobal)) != 1 || len(tc.find(msgr2.TagSessionReconnect)) != 2 {
		t.Fatalf("server sent %v, client %v", ts.tags(), tc.tags())
	}
	if len(sink.reqs) != 2 || sink.reqs[0].GlobalSeq >= 100 || sink.reqs[1].GlobalSeq <= 100 {
		t.Fatalf("requests %+v", sink.reqs)
	}
	// The messenger's counter was raised past 100 (GlobalSeq.Next(100)).
	if sink.reqs[1].GlobalSeq != 101 || x.cm.gs.Next(0) != 102 {
		t.Fatalf("retried with global_seq %d", sink.reqs[1].GlobalSeq)
	}
	r0 := sink.reqs[0]
	r0.GlobalSeq = sink.reqs[1].GlobalSeq
	if !reqEqual(r0, sink.reqs[1]) {
		t.Fatalf("requests %+v then %+v", sink.reqs[0], sink.reqs[1])
	}
}

// TestReconnectDecidedBySnapshot decides the new connection's request with
// Decide on the existing session's Snapshot, as a messenger does: a stale
// connect_seq gets SESSION_RETRY, and the retried request a replacement.
func TestReconnectDecidedBySnapshot(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	x.s.connectSeq = 3 // the existing session had reconnected three times
	var seen []Verdict
	sink := &sessSink{decide: func(req *Request) Verdict {
		ex := x.s.Snapshot()
		ex.State, ex.PeerAddr = ExStandby, cliAddr
		v := Decide(req, &ex, srvAddr, x.s.Policy().ResetCheck)
		seen = append(seen, v)
		return v
	}}
	snap := x.s.Snapshot()
	wantSnap := Existing{Server: true, ClientCookie: x.cc, ServerCookie: x.sc, PeerGlobalSeq: x.ss.reqs[0].GlobalSeq, ConnectSeq: 3}
	if snap != wantSnap {
		t.Fatalf("Snapshot %+v, want %+v", snap, wantSnap)
	}
	s2, _, _, err := x.reconnectTo(t, sink)
	if !errors.Is(err, ErrReplaced) {
		t.Fatalf("pump: %v", err)
	}
	if !slices.Equal(seen, []Verdict{{Kind: VerdictRetry, Seq: 3}, {Kind: VerdictReplace}}) {
		t.Fatalf("verdicts %+v", seen)
	}
	req, v := s2.Replacement()
	if err := x.s.Resume(s2, req, v); err != nil {
		t.Fatal(err)
	}
	flush(t, x.s, x.c)
	if x.c.State() != StateReady || x.s.ConnectSeq() != 4 || x.c.ConnectSeq() != 4 {
		t.Fatalf("client %v; connect_seq %d/%d, want 4", x.c.State(), x.c.ConnectSeq(), x.s.ConnectSeq())
	}
	if snap := x.s.Snapshot(); snap.ConnectSeq != 4 || snap.PeerGlobalSeq != req.GlobalSeq {
		t.Fatalf("Snapshot after resuming %+v (request global_seq %d)", snap, req.GlobalSeq)
	}
}

func TestWait(t *testing.T) {
	t.Run("reconnect", func(t *testing.T) {
		x := establish(t, 3)
		x.fault(t)
		sink := &sessSink{}
		sink.decide = verdicts(t, Verdict{Kind: VerdictWait})
		s2, _, ts, err := x.reconnectTo(t, sink)
		if !errors.Is(err, ErrWait) || !errors.Is(x.c.Err(), ErrWait) || x.c.State() != StateClosed {
			t.Fatalf("pump: %v; client %v, %v", err, x.c.State(), x.c.Err())
		}
		if len(ts.find(msgr2.TagWait)) != 1 || s2.State() != StateIdent {
			t.Fatalf("server sent %v, is %v", ts.tags(), s2.State())
		}
		// The session is intact for the next attempt.
		if cc, sc := x.c.Cookies(); cc != x.cc || sc != x.sc || x.cs.resets != 0 || x.c.ConnectSeq() != 1 {
			t.Fatalf("client session (%#x, %#x) connect_seq %d resets %d", cc, sc, x.c.ConnectSeq(), x.cs.resets)
		}
	})
	t.Run("ident", func(t *testing.T) {
		cm, sm := &tmsgr{cookie: 0xc000}, &tmsgr{cookie: 0x5000}
		cs, ss := &sessSink{}, &sessSink{}
		ss.decide = verdicts(t, Verdict{Kind: VerdictWait, KeepaliveExisting: true})
		c := cm.client(gomsgr.LosslessClient(0), cs)
		s := sm.server(gomsgr.StatefulServer(0), ss)
		c.Start()
		var tc, ts tap
		err := pumpTap(t, c, s, &tc, &ts)
		if !errors.Is(err, ErrWait) || !errors.Is(c.Err(), ErrWait) {
			t.Fatalf("pump: %v; client %v", err, c.Err())
		}
		if len(ts.find(msgr2.TagWait)) != 1 || len(ts.find(msgr2.TagServerIdent)) != 0 || cs.ready != 0 || ss.ready != 0 {
			t.Fatalf("server sent %v; ready %d/%d", ts.tags(), cs.ready, ss.ready)
		}
	})
}

// TestStaleIdent: an existing session is newer than the CLIENT_IDENT: the
// server closes the connection without an answer.
func TestStaleIdent(t *testing.T) {
	cm, sm := &tmsgr{cookie: 0xc000}, &tmsgr{cookie: 0x5000}
	cs, ss := &sessSink{}, &sessSink{}
	ss.decide = verdicts(t, Verdict{Kind: VerdictStop})
	c := cm.client(gomsgr.LosslessClient(0), cs)
	s := sm.server(gomsgr.StatefulServer(0), ss)
	c.Start()
	var tc, ts tap
	err := pumpTap(t, c, s, &tc, &ts)
	if !errors.Is(err, ErrStale) || !errors.Is(s.Err(), ErrStale) || s.State() != StateClosed {
		t.Fatalf("pump: %v; server %v, %v", err, s.State(), s.Err())
	}
	if len(ss.reqs) != 1 || ss.reqs[0].Reconnect {
		t.Fatalf("requests %+v", ss.reqs)
	}
	if tags := ts.tags(); len(tags) != 3 || tags[2] != msgr2.TagAuthSignature || len(s.Output()) != 0 {
		t.Fatalf("server sent %v, %d bytes pending", tags, len(s.Output()))
	}
	if cs.ready != 0 || ss.ready != 0 || c.State() != StateIdent {
		t.Fatalf("ready %d/%d, client %v", cs.ready, ss.ready, c.State())
	}
}

// TestReconnectWithoutSessionSink: a server sink that keeps no sessions
// answers every SESSION_RECONNECT with a full reset, and the client starts
// a new session.
func TestReconnectWithoutSessionSink(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &recSink{}
	s2, tc, ts, err := x.reconnectTo(t, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sessionReset(t, ts), []bool{true}) || s2.Verdict() != (Verdict{Kind: VerdictNew}) {
		t.Fatalf("server sent %v, last verdict %+v", ts.tags(), s2.Verdict())
	}
	if !slices.Equal(tc.tags()[3:], []msgr2.Tag{msgr2.TagSessionReconnect, msgr2.TagClientIdent}) {
		t.Fatalf("client sent %v", tc.tags())
	}
	if x.c.State() != StateReady || s2.State() != StateReady || sink.ready != 1 || x.cs.resets != 1 {
		t.Fatalf("states %v/%v, server ready %d, client resets %d", x.c.State(), s2.State(), sink.ready, x.cs.resets)
	}
	if cc, sc := x.c.Cookies(); cc == x.cc || cc == 0 || sc == x.sc || sc == 0 || x.c.OutSeq() != 0 {
		t.Fatalf("client cookies (%#x, %#x), out_seq %d", cc, sc, x.c.OutSeq())
	}
}

// TestNewForReconnectRefused: a new session is no answer to
// SESSION_RECONNECT.
func TestNewForReconnectRefused(t *testing.T) {
	x := establish(t, 3)
	x.fault(t)
	sink := &sessSink{}
	sink.decide = verdicts(t, Verdict{Kind: VerdictNew})
	s2, _, ts, err := x.reconnectTo(t, sink)
	if !errors.Is(err, ErrProtocol) || len(ts.find(msgr2.TagServerIdent)) != 0 || sink.ready != 0 || s2.State() != StateClosed {
		t.Fatalf("pump: %v; server sent %v, ready %d", err, ts.tags(), sink.ready)
	}
}

// TestIdentReplace: the peer restarted (a new client cookie) and its
// CLIENT_IDENT replaces the existing session's socket; the existing
// session answers SERVER_IDENT with a new server cookie, reset first when
// the verdict says so.
func TestIdentReplace(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprint("reset ", reset), func(t *testing.T) {
			x := establish(t, 3)
			// The old client acked the server's message 1 only.
			x.ss.requeued = []uint64{2}
			x.s.Requeued(1)
			// A new client process: new messenger, new cookie.
			cm := &tmsgr{cookie: 0xd000}
			cs := &sessSink{}
			c := cm.client(gomsgr.LosslessClient(0), cs)
			c.Start()
			sink := &sessSink{}
			sink.decide = verdicts(t, Verdict{Kind: VerdictReplace, ResetExisting: reset})
			s2 := x.sm.server(gomsgr.StatefulServer(0), sink)
			var tc, ts tap
			if err := pumpTap(t, c, s2, &tc, &ts); !errors.Is(err, ErrReplaced) {
				t.Fatalf("pump: %v", err)
			}
			req, v := s2.Replacement()
			if req.Reconnect || req.ClientCookie != 0xd001 || v.ResetExisting != reset {
				t.Fatalf("replacement %+v, %+v", *req, v)
			}
			if err := x.s.Resume(s2, req, v); err != nil {
				t.Fatal(err)
			}
			out := decodeFrames(t, msgr2.Rev1, x.s.Output())
			if len(out) != 1 || out[0].tag != msgr2.TagServerIdent {
				t.Fatalf("resumed server queued %v", out)
			}
			flush(t, x.s, c)
			if c.State() != StateReady || cs.ready != 1 || x.s.State() != StateReady || x.ss.ready != 2 {
				t.Fatalf("client %v ready %d, server %v ready %d", c.State(), cs.ready, x.s.State(), x.ss.ready)
			}
			cc, sc := c.Cookies()
			if scc, ssc := x.s.Cookies(); cc != 0xd001 || scc != cc || ssc != sc || sc == x.sc || sc == 0 {
				t.Fatalf("client cookies (%#x, %#x), server (%#x, %#x), old server cookie %#x", cc, sc, scc, ssc, x.sc)
			}
			if x.s.InSeq() != 0 {
				t.Fatalf("server in_seq %d for the new session", x.s.InSeq())
			}
			// The new peer's first message is taken, not dropped as a
			// duplicate of the old session's.
			f, _ := message(c, 9)
			feed(t, x.s, f)
			if got := x.ss.msgs[len(x.ss.msgs)-1]; got.h.Tid != 9 || x.s.Duplicates() != 0 {
				t.Fatalf("server got tid %d, duplicates %d", got.h.Tid, x.s.Duplicates())
			}
			if reset {
				if x.ss.resets != 1 || len(x.ss.requeued) != 0 || x.s.OutSeq() != 0 {
					t.Fatalf("resets %d, requeued %v, out_seq %d", x.ss.resets, x.ss.requeued, x.s.OutSeq())
				}
				return
			}
			// Without the reset, the requeued message goes to the new
			// session with its seq (Ceph's send_server_ident keeps out_seq
			// when messages are requeued); nothing is discarded.
			if x.ss.resets != 0 || !slices.Equal(x.ss.requeued, []uint64{2}) || x.s.OutSeq() != 1 {
				t.Fatalf("resets %d, requeued %v, out_seq %d", x.ss.resets, x.ss.requeued, x.s.OutSeq())
			}
			f2, _ := message(x.s, 102)
			feed(t, c, f2)
			if !slices.Equal(seqsOf(cs.msgs), []uint64{2}) || c.Duplicates() != 0 {
				t.Fatalf("new client received %v", seqsOf(cs.msgs))
			}
		})
	}
}

// TestAcceptedSideReconnects: with a lossless peer policy the side that
// accepted the session reconnects as a client to the peer's advertised
// address, and the peer's existing session (which dialled first) resumes
// as the server of the new socket.
func TestAcceptedSideReconnects(t *testing.T) {
	cm, sm := &tmsgr{cookie: 0xc000}, &tmsgr{cookie: 0x5000}
	cs, ss := &sessSink{}, &sessSink{}
	c := cm.client(gomsgr.LosslessPeer(0), cs)
	s := sm.server(gomsgr.LosslessPeer(0), ss)
	// The accepted socket's remote end is an ephemeral port, not the
	// address the peer advertises.
	s.cfg.PeerAddr = eaddr("127.0.0.1:51234", 0)
	c.Start()
	if err := pump(t, c, s, 1<<20); err != nil {
		t.Fatal(err)
	}
	if c.LearnedAddr() != s.cfg.PeerAddr {
		t.Fatalf("client learned %v", c.LearnedAddr())
	}
	cc, sc := c.Cookies()
	f, _ := message(c, 1)
	feed(t, s, f)
	f, _ = message(s, 101)
	feed(t, c, f)

	// The socket breaks; nothing was acked. The accepting side dials.
	cs.requeued = []uint64{1}
	c.Requeued(1)
	ss.requeued = []uint64{1}
	s.Requeued(1)
	s.Faulted()
	s.Restart(Client, cliAddr)
	s.Start()
	sink := &sessSink{}
	sink.decide = verdicts(t, Verdict{Kind: VerdictReplace})
	c2 := New(Config{Role: Server, Name: msgr2.EntityName{Type: msgr2.EntityClient, Num: 4100}, Addrs: msgr2.AddrVec{cliAddr},
		PeerAddr: srvAddr, Policy: func(msgr2.EntityType) gomsgr.Policy { return gomsgr.LosslessPeer(0) },
		GlobalSeq: cm.gs.Next, NewCookie: cm.newCookie}, sink)
	c2.Start()
	var ts, tc tap
	if err := pumpTap(t, s, c2, &ts, &tc); !errors.Is(err, ErrReplaced) {
		t.Fatalf("pump: %v (s sent %v, c2 %v)", err, ts.tags(), tc.tags())
	}
	// The reconnecting side dialled the advertised address, and said so
	// in its HELLO.
	if c2.LearnedAddr() != cliAddr {
		t.Fatalf("the peer's HELLO says it dialled %v, want %v", c2.LearnedAddr(), cliAddr)
	}
	req, v := c2.Replacement()
	want := Request{Reconnect: true, Addrs: msgr2.AddrVec{srvAddr}, ClientCookie: cc, ServerCookie: sc,
		GlobalSeq: s.gseq, ConnectSeq: 1, MsgSeq: 1}
	if !reqEqual(*req, want) {
		t.Fatalf("request %+v, want %+v", *req, want)
	}
	if err := c.Resume(c2, req, v); err != nil {
		t.Fatal(err)
	}
	flush(t, c, s)
	if c.State() != StateReady || s.State() != StateReady || cs.ready != 2 || ss.ready != 2 {
		t.Fatalf("states %v/%v, ready %d/%d", c.State(), s.State(), cs.ready, ss.ready)
	}
	if !slices.Equal(cs.discards, []uint64{1}) || !slices.Equal(ss.discards, []uint64{1}) || c.OutSeq() != 1 || s.OutSeq() != 1 {
		t.Fatalf("discards %v/%v, out_seq %d/%d", cs.discards, ss.discards, c.OutSeq(), s.OutSeq())
	}
	if gc, gs := s.Cookies(); gc != cc || gs != sc || c.ConnectSeq() != 1 {
		t.Fatalf("cookies (%#x, %#x), want (%#x, %#x); connect_seq %d", gc, gs, cc, sc, c.ConnectSeq())
	}
	f, _ = message(c, 2)
	feed(t, s, f)
	f, _ = message(s, 102)
	feed(t, c, f)
	if !slices.Equal(seqsOf(ss.msgs), []uint64{1, 2}) || !slices.Equal(seqsOf(cs.msgs), []uint64{1, 2}) {
		t.Fatalf("received %v / %v", seqsOf(cs.msgs), seqsOf(ss.msgs))
	}
}

// TestSkippedMessage feeds a message whose seq skips one: it is delivered
// and the gap counted (Ceph's "missed message?"), or, with
// FailOnSkippedMessage (ms_die_on_skipped_message), the session fails.
func TestSkippedMessage(t *testing.T) {
	x := establish(t, 1)
	feed(t, x.s, replay(x.s.Revision(), 3))
	if got := seqsOf(x.ss.msgs); !slices.Equal(got, []uint64{1, 3}) || x.s.Skipped() != 1 || x.s.InSeq() != 3 {
		t.Fatalf("delivered %v, skipped %d, in_seq %d", got, x.s.Skipped(), x.s.InSeq())
	}

	y := establish(t, 1)
	y.s.cfg.FailOnSkippedMessage = true
	if _, _, err := y.s.Feed(replay(y.s.Revision(), 3)); !errors.Is(err, ErrSkippedMessage) {
		t.Fatalf("feed with a gap: %v, want ErrSkippedMessage", err)
	}
	if got := seqsOf(y.ss.msgs); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("delivered %v after the failed gap", got)
	}
}
