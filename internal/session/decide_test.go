package session

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/gomsgr/gomsgr/msgr2"
)

func eaddr(ipport string, nonce uint32) msgr2.EntityAddr {
	return msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Nonce: nonce, Addr: netip.MustParseAddrPort(ipport)}
}

// The decision tables are evaluated by "me"; the peer is either below or
// above it in CompareAddr's order, which is Ceph's (nonce before IP).
var (
	me        = eaddr("10.0.0.2:6800", 2)
	lowerPeer = eaddr("10.0.0.3:6800", 1)
	upperPeer = eaddr("10.0.0.1:6800", 9)
)

func TestDecideIdent(t *testing.T) {
	// req is a CLIENT_IDENT with client cookie 6 and global_seq 10.
	req := func(from msgr2.EntityAddr) *Request {
		return &Request{Addrs: msgr2.AddrVec{from}, ClientCookie: 6, GlobalSeq: 10}
	}
	// racing is an existing connection that is still connecting (it sent
	// its own CLIENT_IDENT with cookie 5 and has no server cookie yet).
	racing := func() *Existing {
		return &Existing{State: ExConnecting, ClientCookie: 5, PeerGlobalSeq: 3}
	}
	cases := []struct {
		name       string
		from       msgr2.EntityAddr // the peer's advertised address
		ex         *Existing
		resetCheck bool
		want       Verdict
	}{
		{"no existing", upperPeer, nil, false, Verdict{Kind: VerdictNew}},
		{"no existing, resetcheck", upperPeer, nil, true, Verdict{Kind: VerdictNew}},
		// A closed existing session counts as none, whatever else it says.
		{"closed", upperPeer, &Existing{State: ExClosed, Replacing: true, PeerGlobalSeq: 99, ClientCookie: 5, ServerCookie: 7},
			true, Verdict{Kind: VerdictNew}},
		// Replacing comes before the stale check.
		{"replacing", upperPeer, &Existing{State: ExReady, Replacing: true, PeerGlobalSeq: 99, ClientCookie: 6}, true,
			Verdict{Kind: VerdictWait}},
		{"stale global_seq", upperPeer, &Existing{State: ExReady, PeerGlobalSeq: 11, ClientCookie: 6}, true,
			Verdict{Kind: VerdictStop}},
		// The stale check comes before the lossy one.
		{"stale global_seq, lossy existing", upperPeer, &Existing{State: ExReady, Lossy: true, PeerGlobalSeq: 11}, true,
			Verdict{Kind: VerdictStop}},
		// Equal global_seq is not stale.
		{"equal global_seq, lossy existing", upperPeer, &Existing{State: ExReady, Lossy: true, PeerGlobalSeq: 10}, true,
			Verdict{Kind: VerdictNew, StopExisting: true}},
		// Lossy comes before the cookie checks.
		{"lossy existing with cookies", upperPeer, &Existing{State: ExConnecting, Lossy: true, ClientCookie: 5, ServerCookie: 7},
			true, Verdict{Kind: VerdictNew, StopExisting: true}},
		{"peer restarted", upperPeer, &Existing{State: ExConnecting, ClientCookie: 5, ServerCookie: 7}, false,
			Verdict{Kind: VerdictReplace}},
		{"peer restarted, resetcheck", upperPeer, &Existing{State: ExConnecting, ClientCookie: 5, ServerCookie: 7}, true,
			Verdict{Kind: VerdictReplace, ResetExisting: true}},
		// Without a server cookie a cookie mismatch is not a restart: the
		// existing connection is racing (see the race rows).
		{"cookie mismatch without server cookie", upperPeer, racing(), true,
			Verdict{Kind: VerdictWait, KeepaliveExisting: true}},
		// Same cookie: the handshake was cut after CLIENT_IDENT; resume it,
		// without resetting, even when the race would be lost.
		{"same client cookie", upperPeer, &Existing{State: ExConnecting, ClientCookie: 6}, true,
			Verdict{Kind: VerdictReplace}},
		{"same client cookie, server cookie set", upperPeer, &Existing{State: ExConnecting, ClientCookie: 6, ServerCookie: 7},
			true, Verdict{Kind: VerdictReplace}},
		{"ready existing", upperPeer, &Existing{State: ExReady, ClientCookie: 5}, true, Verdict{Kind: VerdictReplace}},
		{"standby existing", upperPeer, &Existing{State: ExStandby, ClientCookie: 5}, true, Verdict{Kind: VerdictReplace}},
		// Connection race: the lower address's connection wins.
		{"race, peer lower", lowerPeer, racing(), true, Verdict{Kind: VerdictReplace}},
		{"race, peer higher", upperPeer, racing(), true, Verdict{Kind: VerdictWait, KeepaliveExisting: true}},
		{"race, peer higher, existing is server", upperPeer, &Existing{State: ExConnecting, ClientCookie: 5, Server: true},
			true, Verdict{Kind: VerdictReplace}},
		{"race, peer lower, existing is server", lowerPeer, &Existing{State: ExConnecting, ClientCookie: 5, Server: true},
			false, Verdict{Kind: VerdictReplace}},
		// Only the address and nonce decide the race, as seen by both.
		{"race, same ip, peer port lower", eaddr("10.0.0.2:6700", 2), racing(), true, Verdict{Kind: VerdictReplace}},
		{"race, same ip and port, peer nonce higher", eaddr("10.0.0.2:6800", 3), racing(), true,
			Verdict{Kind: VerdictWait, KeepaliveExisting: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := req(tc.from)
			if got := Decide(r, tc.ex, me, tc.resetCheck); got != tc.want {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
			if r.Reconnect || r.ClientCookie != 6 || r.GlobalSeq != 10 {
				t.Fatalf("Decide modified the request: %+v", r)
			}
		})
	}
}

func TestDecideReconnect(t *testing.T) {
	// req is a SESSION_RECONNECT for session (5, 7), global_seq 10,
	// connect_seq 3, having received message 40.
	req := func() *Request {
		return &Request{Reconnect: true, Addrs: msgr2.AddrVec{upperPeer}, ClientCookie: 5, ServerCookie: 7,
			GlobalSeq: 10, ConnectSeq: 3, MsgSeq: 40}
	}
	// ex is the matching existing session (same cookies, older global and
	// connect seqs), known at addr.
	ex := func(st ExState, addr msgr2.EntityAddr) *Existing {
		return &Existing{State: st, ClientCookie: 5, ServerCookie: 7, PeerGlobalSeq: 9, ConnectSeq: 2, PeerAddr: addr}
	}
	with := func(e *Existing, f func(*Existing)) *Existing { f(e); return e }
	cases := []struct {
		name       string
		ex         *Existing
		resetCheck bool
		want       Verdict
	}{
		{"no existing", nil, false, Verdict{Kind: VerdictReset, Full: true}},
		{"no existing, resetcheck", nil, true, Verdict{Kind: VerdictReset, Full: true}},
		{"closed", with(ex(ExClosed, upperPeer), func(e *Existing) { e.Replacing = true; e.ClientCookie = 1 }), false,
			Verdict{Kind: VerdictReset, Full: true}},
		// Replacing comes before the cookie checks.
		{"replacing", with(ex(ExReady, upperPeer), func(e *Existing) { e.Replacing = true; e.ClientCookie = 1; e.PeerGlobalSeq = 33 }),
			true, Verdict{Kind: VerdictRetryGlobal, Seq: 33}},
		{"client cookie mismatch", with(ex(ExReady, upperPeer), func(e *Existing) { e.ClientCookie = 1 }), false,
			Verdict{Kind: VerdictReset, Full: false}},
		// A mismatch comes before the stale global_seq check.
		{"client cookie mismatch, resetcheck", with(ex(ExReady, upperPeer), func(e *Existing) { e.ClientCookie = 1; e.PeerGlobalSeq = 50 }),
			true, Verdict{Kind: VerdictReset, Full: true}},
		// Server cookie 0 is never a full reset, and comes before the
		// stale checks.
		{"server cookie 0", with(ex(ExConnecting, upperPeer), func(e *Existing) { e.ServerCookie = 0; e.PeerGlobalSeq = 50; e.ConnectSeq = 50 }),
			true, Verdict{Kind: VerdictReset, Full: false}},
		// Stale global_seq comes before stale connect_seq.
		{"stale global_seq", with(ex(ExReady, upperPeer), func(e *Existing) { e.PeerGlobalSeq = 11; e.ConnectSeq = 8 }), true,
			Verdict{Kind: VerdictRetryGlobal, Seq: 11}},
		{"stale connect_seq", with(ex(ExReady, upperPeer), func(e *Existing) { e.ConnectSeq = 4 }), true,
			Verdict{Kind: VerdictRetry, Seq: 4}},
		{"equal global_seq, stale connect_seq", with(ex(ExStandby, upperPeer), func(e *Existing) { e.PeerGlobalSeq = 10; e.ConnectSeq = 8 }),
			true, Verdict{Kind: VerdictRetry, Seq: 8}},
		// Equal connect_seq: both sides reconnect; the existing connection
		// wins when its peer's address is higher than ours.
		{"reconnect race, peer higher", with(ex(ExConnecting, upperPeer), func(e *Existing) { e.ConnectSeq = 3 }), true,
			Verdict{Kind: VerdictWait}},
		{"reconnect race, peer lower", with(ex(ExConnecting, lowerPeer), func(e *Existing) { e.ConnectSeq = 3 }), true,
			Verdict{Kind: VerdictReplace}},
		{"reconnect race, peer higher, existing is server", with(ex(ExConnecting, upperPeer), func(e *Existing) { e.ConnectSeq = 3; e.Server = true }),
			true, Verdict{Kind: VerdictReplace}},
		{"normal, ready", ex(ExReady, upperPeer), true, Verdict{Kind: VerdictReplace}},
		{"normal, standby", ex(ExStandby, upperPeer), false, Verdict{Kind: VerdictReplace}},
		// A newer connect_seq wins even against a higher peer address.
		{"normal, connecting", ex(ExConnecting, upperPeer), true, Verdict{Kind: VerdictReplace}},
		// Lossy plays no part in the reconnect table.
		{"normal, lossy existing", with(ex(ExReady, upperPeer), func(e *Existing) { e.Lossy = true }), true,
			Verdict{Kind: VerdictReplace}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(req(), tc.ex, me, tc.resetCheck); got != tc.want {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDecideUsesReconnectFlag checks that the same fields give different
// answers for CLIENT_IDENT and SESSION_RECONNECT (the tables are chosen by
// Request.Reconnect).
func TestDecideUsesReconnectFlag(t *testing.T) {
	r := &Request{Addrs: msgr2.AddrVec{upperPeer}, ClientCookie: 5, ServerCookie: 7, GlobalSeq: 10}
	if got := Decide(r, nil, me, true); got != (Verdict{Kind: VerdictNew}) {
		t.Fatalf("CLIENT_IDENT, no existing: %+v", got)
	}
	r.Reconnect = true
	if got := Decide(r, nil, me, true); got != (Verdict{Kind: VerdictReset, Full: true}) {
		t.Fatalf("SESSION_RECONNECT, no existing: %+v", got)
	}
}

// orderedAddrs is sorted in Ceph's entity_addr_t order (a memcmp of the
// struct on a little-endian host): type, nonce (low byte first), family,
// port, address.
var orderedAddrs = []msgr2.EntityAddr{
	eaddr("0.0.0.0:0", 0),
	eaddr("10.0.0.2:1", 0),
	eaddr("10.0.0.1:6800", 0),
	eaddr("10.0.0.1:6801", 0),
	eaddr("255.255.255.255:65535", 0),
	eaddr("[fe80::1]:1", 0),
	eaddr("[2001:db8::1]:6801", 0),
	eaddr("10.0.0.1:6800", 256), // 00 01 00 00: below nonce 1 (01 00 00 00)
	eaddr("10.0.1.0:6800", 1),
	eaddr("[2001:db8::1]:6800", 1),
	eaddr("10.0.0.2:6800", 2),
	eaddr("10.0.0.2:6800", 3),
	eaddr("10.0.0.1:6800", 7),
	eaddr("192.168.0.1:0", 4294967295),
}

func TestCompareAddrOrder(t *testing.T) {
	for i, a := range orderedAddrs {
		for j, b := range orderedAddrs {
			ab, ba := CompareAddr(a, b), CompareAddr(b, a)
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if ab != want || ba != -want {
				t.Errorf("CompareAddr(%v, %v) = %d, reverse %d; want %d, %d", a, b, ab, ba, want, -want)
			}
		}
	}
	// Transitivity on every triple.
	for _, a := range orderedAddrs {
		for _, b := range orderedAddrs {
			for _, c := range orderedAddrs {
				if CompareAddr(a, b) < 0 && CompareAddr(b, c) < 0 && CompareAddr(a, c) >= 0 {
					t.Errorf("not transitive: %v < %v < %v but not %v < %v", a, b, c, a, c)
				}
			}
		}
	}
}

// TestRaceConsistentFromBothSides runs both sides' decision on a
// connection race and on a reconnect race for every pair of distinct
// addresses: exactly one side's existing connection must win.
func TestRaceConsistentFromBothSides(t *testing.T) {
	for _, a := range orderedAddrs {
		for _, b := range orderedAddrs {
			if a == b {
				continue
			}
			// Connection race: each side has a connecting session to the
			// other (its own CLIENT_IDENT sent, no server cookie) and
			// receives the other's CLIENT_IDENT.
			atA := Decide(&Request{Addrs: msgr2.AddrVec{b}, ClientCookie: 2, GlobalSeq: 1},
				&Existing{State: ExConnecting, ClientCookie: 1, PeerAddr: b}, a, true)
			atB := Decide(&Request{Addrs: msgr2.AddrVec{a}, ClientCookie: 1, GlobalSeq: 1},
				&Existing{State: ExConnecting, ClientCookie: 2, PeerAddr: a}, b, true)
			if (atA.Kind == VerdictReplace) == (atB.Kind == VerdictReplace) {
				t.Errorf("connection race %v vs %v: %v at the first, %v at the second", a, b, atA.Kind, atB.Kind)
			}
			for _, v := range []Verdict{atA, atB} {
				if v.Kind != VerdictReplace && v != (Verdict{Kind: VerdictWait, KeepaliveExisting: true}) {
					t.Errorf("connection race %v vs %v: verdict %+v", a, b, v)
				}
			}
			// Reconnect race: the same session, both at connect_seq 4.
			ex := func(peer msgr2.EntityAddr) *Existing {
				return &Existing{State: ExConnecting, ClientCookie: 1, ServerCookie: 2, PeerGlobalSeq: 1, ConnectSeq: 4, PeerAddr: peer}
			}
			rq := func(from msgr2.EntityAddr) *Request {
				return &Request{Reconnect: true, Addrs: msgr2.AddrVec{from}, ClientCookie: 1, ServerCookie: 2, GlobalSeq: 1, ConnectSeq: 4}
			}
			atA, atB = Decide(rq(b), ex(b), a, true), Decide(rq(a), ex(a), b, true)
			if (atA.Kind == VerdictWait) == (atB.Kind == VerdictWait) {
				t.Errorf("reconnect race %v vs %v: %v at the first, %v at the second", a, b, atA.Kind, atB.Kind)
			}
		}
	}
}

func TestGlobalSeqNext(t *testing.T) {
	var g GlobalSeq
	steps := []struct{ past, want uint64 }{
		{0, 1},
		{0, 2},
		{100, 101}, // raised past the reported value
		{50, 102},  // a lower report does not lower it
		{102, 103}, // nor does an equal one
		{103, 104},
		{104, 105},
		{1 << 40, 1<<40 + 1},
	}
	for _, s := range steps {
		if got := g.Next(s.past); got != s.want {
			t.Fatalf("Next(%d) = %d, want %d", s.past, got, s.want)
		}
	}
}

func TestGlobalSeqConcurrent(t *testing.T) {
	const workers, per = 8, 50000
	var g GlobalSeq
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make([][]uint64, workers)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // all at once, for contention
			last := uint64(0)
			for i := 0; i < per; i++ {
				// Some calls report a peer's global_seq, racing with the
				// others' increments.
				past := uint64(0)
				if i%7 == w%7 {
					past = uint64(i * workers)
				}
				v := g.Next(past)
				if v <= past || v <= last {
					errs <- fmt.Errorf("worker %d: Next(%d) = %d after %d", w, past, v, last)
					return
				}
				last = v
				got[w] = append(got[w], v)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[uint64]int, workers*per)
	for w, vs := range got {
		if len(vs) != per {
			t.Fatalf("worker %d got %d values", w, len(vs))
		}
		for _, v := range vs {
			if prev, dup := seen[v]; dup {
				t.Fatalf("global_seq %d returned to workers %d and %d", v, prev, w)
			}
			seen[v] = w
		}
	}
	if final := g.Next(0); final <= uint64(len(seen)) {
		t.Fatalf("counter at %d after %d unique values", final, len(seen))
	}
}
