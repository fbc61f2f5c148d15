package msgrbase

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/perf"
)

func TestPolicySet(t *testing.T) {
	set := perf.NewSet("t")
	s := NewPolicySet(set)
	def := gomsgr.LossyClient(0)
	osd := gomsgr.LosslessPeer(0)
	osd.ThrottleMessages, osd.ThrottleBytes = 5, 1000
	s.SetDefault(def)
	s.Set(gomsgr.EntityOSD, osd)
	if got := s.Policy(gomsgr.EntityOSD); got != osd {
		t.Errorf("Policy(osd) = %+v, want %+v", got, osd)
	}
	if got := s.Policy(gomsgr.EntityMon); got != def {
		t.Errorf("Policy(mon) = %+v, want the default %+v", got, def)
	}
	th := s.Throttles(gomsgr.EntityOSD)
	if th.Msgs.Max() != 5 || th.Bytes.Max() != 1000 {
		t.Errorf("Throttles(osd) max %d msgs, %d bytes; want 5, 1000", th.Msgs.Max(), th.Bytes.Max())
	}
	if th := s.Throttles(gomsgr.EntityMon); th.Msgs != nil || th.Bytes != nil {
		t.Errorf("Throttles(mon) = %+v, want none (the default policy has no limits)", th)
	}
}

type recorder struct {
	evs   []string
	reset bool // HandleReset and HandleRefused return it
	take  bool // Dispatch returns it
}

func (r *recorder) Dispatch(*gomsgr.Message) bool       { r.evs = append(r.evs, "dispatch"); return r.take }
func (r *recorder) HandleConnect(gomsgr.Connection)     { r.evs = append(r.evs, "connect") }
func (r *recorder) HandleAccept(gomsgr.Connection)      { r.evs = append(r.evs, "accept") }
func (r *recorder) HandleRemoteReset(gomsgr.Connection) { r.evs = append(r.evs, "remote_reset") }
func (r *recorder) HandleReset(gomsgr.Connection) bool {
	r.evs = append(r.evs, "reset")
	return r.reset
}
func (r *recorder) HandleRefused(gomsgr.Connection) bool {
	r.evs = append(r.evs, "refused")
	return r.reset
}
func (r *recorder) CanFastDispatch(*gomsgr.Message) bool { return false }
func (r *recorder) FastDispatch(*gomsgr.Message)         {}
func (r *recorder) events() []string                     { e := r.evs; r.evs = nil; return e }
func (r *recorder) String() string                       { return "recorder" }
func (r *recorder) assert(t *testing.T, what string, want ...string) {
	t.Helper()
	if got := r.events(); !slices.Equal(got, want) {
		t.Errorf("%s: events %v, want %v", what, got, want)
	}
}

func TestChain(t *testing.T) {
	var ch Chain
	a, b := &recorder{reset: true, take: true}, &recorder{}
	ch.Add(b)
	ch.Add(a)
	if len(ch.Dispatchers) != 2 || len(ch.Handlers) != 2 || len(ch.Fast) != 2 {
		t.Fatalf("chain has %d dispatchers, %d handlers, %d fast, want 2 each", len(ch.Dispatchers), len(ch.Handlers), len(ch.Fast))
	}
	if !ch.Dispatch(&gomsgr.Message{}) {
		t.Errorf("Dispatch: no dispatcher took the message, want the second")
	}
	b.assert(t, "dispatch", "dispatch")
	a.assert(t, "dispatch", "dispatch")
	// b comes first and returns false: every event reaches both.
	for _, tc := range []struct {
		ev   ConnEvent
		name string
	}{
		{EvConnect, "connect"},
		{EvAccept, "accept"},
		{EvReset, "reset"},
		{EvRemoteReset, "remote_reset"},
		{EvRefused, "refused"},
	} {
		ch.Event(nil, tc.ev)
		b.assert(t, tc.name, tc.name)
		a.assert(t, tc.name, tc.name)
		if tc.ev.String() != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.ev, tc.ev.String(), tc.name)
		}
	}
	// a (first now) returns true from HandleReset and HandleRefused: b is
	// not called.
	ch = Chain{}
	ch.Add(a)
	ch.Add(b)
	for _, ev := range []ConnEvent{EvReset, EvRefused} {
		ch.Event(nil, ev)
		a.assert(t, ev.String()+" (stopping)", ev.String())
		b.assert(t, ev.String()+" (after a stopping one)")
	}
	ch.Event(nil, EvConnect)
	a.assert(t, "connect (not stoppable)", "connect")
	b.assert(t, "connect (not stoppable)", "connect")
	if s := ConnEvent(9).String(); s != "ConnEvent(9)" {
		t.Errorf("ConnEvent(9).String() = %q", s)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry[*int]()
	a, b, c, d := new(int), new(int), new(int), new(int)
	addr := gomsgr.EntityAddr{Addr: netip.MustParseAddrPort("127.0.0.1:6800"), Nonce: 7}
	k := KeyOf(addr)
	if KeyOf(gomsgr.EntityAddr{Addr: addr.Addr, Nonce: 8}) == k {
		t.Fatal("KeyOf ignores the nonce")
	}
	r.Register(k, a)
	r.AddAccepting(b)
	r.AddAnon(c)
	if r.Lookup(k) != a {
		t.Fatal("Lookup after Register: not the registered connection")
	}
	r.Drop(k, d) // not d's key: a stays
	if r.Lookup(k) != a {
		t.Fatal("Drop of another connection removed the registered one")
	}
	where := map[*int]string{}
	r.Each(func(c *int, w string) { where[c] = w })
	if want := map[*int]string{a: InConns, b: InAccepting, c: InAnon}; len(where) != 3 || where[a] != want[a] || where[b] != want[b] || where[c] != want[c] {
		t.Fatalf("Each: %v, want conns, accepting, anon", where)
	}
	if all := r.All(); len(all) != 3 || all[0] != a {
		t.Fatalf("All: %v, want 3 with the registered one first", all)
	}
	r.Accepted(b)
	r.DropAnon(c)
	r.Unregister(k, a)
	if all := r.All(); len(all) != 0 || r.Lookup(k) != nil {
		t.Fatalf("after removing all: %v remain", all)
	}
}

func TestPeerAddr(t *testing.T) {
	target := gomsgr.EntityAddr{Addr: netip.MustParseAddrPort("10.0.0.1:1234")}
	adv := gomsgr.EntityAddr{Addr: netip.MustParseAddrPort("10.0.0.1:6800"), Nonce: 3}
	noPort := gomsgr.EntityAddr{Addr: netip.MustParseAddrPort("10.0.0.1:0"), Nonce: 3}
	for _, tc := range []struct {
		name string
		adv  gomsgr.AddrVec
		want gomsgr.EntityAddr
	}{
		{"before the handshake", nil, target},
		{"advertised", gomsgr.AddrVec{adv}, adv},
		{"advertised without a port", gomsgr.AddrVec{noPort}, target},
	} {
		if got := PeerAddr(tc.adv, target); got != tc.want {
			t.Errorf("%s: PeerAddr = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	b := NewThrottle(perf.NewSet("t"), "b", 10)
	steps := []struct {
		get, put int64
		ok       bool
		cur      int64
	}{
		{get: 6, ok: true, cur: 6},
		{get: 5, ok: false, cur: 6},
		{get: 4, ok: true, cur: 10},
		{put: 10, cur: 0},
		{get: 30, ok: true, cur: 30}, // alone, larger than max
		{get: 1, ok: false, cur: 30},
		{put: 50, cur: 0}, // never below 0
	}
	for i, s := range steps {
		if s.get != 0 {
			if ok := b.TryGet(s.get); ok != s.ok {
				t.Errorf("step %d: TryGet(%d) = %v, want %v", i, s.get, ok, s.ok)
			}
		} else {
			b.Put(s.put)
		}
		if cur := b.Current(); cur != s.cur {
			t.Errorf("step %d: Current = %d, want %d", i, cur, s.cur)
		}
	}
	if b.Max() != 10 {
		t.Errorf("Max = %d, want 10", b.Max())
	}
	if NewThrottle(perf.NewSet("t"), "none", 0) != nil {
		t.Error("a throttle of max 0 must be nil (no limit)")
	}
}

// TestThrottleGetWaits: Get waits for budget and gives up when stopped.
func TestThrottleGetWaits(t *testing.T) {
	th := NewThrottle(perf.NewSet("t"), "b", 10)
	if !th.Get(8, func() bool { return false }) {
		t.Fatal("Get on an empty throttle failed")
	}
	got := make(chan bool)
	go func() { got <- th.Get(5, func() bool { return false }) }()
	select {
	case <-got:
		t.Fatal("Get(5) passed with 8 of 10 taken")
	case <-time.After(20 * time.Millisecond):
	}
	th.Put(8)
	if !<-got {
		t.Fatal("Get(5) failed after the budget came back")
	}
	var stop atomic.Bool
	go func() { got <- th.Get(9, stop.Load) }()
	stop.Store(true)
	th.Wake()
	if <-got {
		t.Fatal("Get passed although stopped with the throttle full")
	}
	var h Held
	pol := Throttles{Msgs: NewThrottle(perf.NewSet("t"), "m", 1)}
	if !h.TryTake(pol, th, 5) || !h.Taken() {
		t.Fatal("TryTake with room failed")
	}
	var h2 Held
	if h2.TryTake(pol, th, 1) || pol.Msgs.Current() != 1 || th.Current() != 10 {
		t.Fatalf("TryTake without room: took, or left msgs %d bytes %d", pol.Msgs.Current(), th.Current())
	}
	moved := h.Move()
	h.Release() // empty: nothing
	if th.Current() != 10 {
		t.Fatal("Release of a moved Held gave budget back")
	}
	moved.Release()
	moved.Release()
	if th.Current() != 5 || pol.Msgs.Current() != 0 {
		t.Fatalf("after Release: bytes %d msgs %d, want 5 0", th.Current(), pol.Msgs.Current())
	}
}

func TestDefaults(t *testing.T) {
	var (
		retries, prefetch, sample int
		delay, ready, idle        time.Duration
		dthr                      int64
		logger                    *slog.Logger
		progress                  time.Duration
		share                     float64
		handshaking               int
	)
	d := Defaults{&retries, &delay, &prefetch, &ready, &idle, &dthr, &sample, &logger, &progress, &share, &handshaking}
	d.SetDefaults()
	if retries != 3 || delay != 5*time.Second || prefetch != 64<<10 ||
		ready != 10*time.Second || idle != 900*time.Second || dthr != 100<<20 || sample != 64 || logger == nil {
		t.Fatalf("defaults: retries %d every %v, prefetch %d, ready %v, idle %v, dispatch throttle %d, sample every %d, logger %v",
			retries, delay, prefetch, ready, idle, dthr, sample, logger)
	}
	if progress != 30*time.Second || share != 0.25 || handshaking != 4096 {
		t.Fatalf("hostile-peer defaults: progress %v, share %v, handshaking %d", progress, share, handshaking)
	}
	progress, share, handshaking = -1, -1, -1 // off stays off
	d.SetDefaults()
	if progress != -1 || share != -1 || handshaking != -1 {
		t.Fatalf("negative (off) hostile-peer options changed: %v %v %d", progress, share, handshaking)
	}
	sample = 5
	d.SetDefaults()
	if sample != 8 {
		t.Errorf("SampleEvery 5 became %d, want 8 (the next power of two)", sample)
	}
	dthr, ready = -1, time.Second // a set or negative value stays
	d.SetDefaults()
	if dthr != -1 || ready != time.Second {
		t.Errorf("set values changed: dispatch throttle %d, ready %v", dthr, ready)
	}
}

// TestBindRetryHonoursContext: a range scan that finds every port in use
// retries BindRetryDelay apart, and stops when the context ends instead of
// sleeping through its retries.
func TestBindRetryHonoursContext(t *testing.T) {
	cfg := BindConfig{PortMin: 7000, PortMax: 7001, RetryCount: 100, RetryDelay: time.Hour, Logger: slog.New(slog.DiscardHandler), Prefix: "t"}
	tried := 0
	inUse := func(netip.AddrPort) (int, error) { tried++; return 0, syscall.EADDRINUSE }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Bind(ctx, cfg, netip.MustParseAddrPort("127.0.0.1:0"), []uint16{7001}, inUse)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Bind with every port in use: %v, want the context's end and the last EADDRINUSE", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Bind returned after %v, not when the context ended", el)
	}
	if tried != 1 {
		t.Fatalf("tried %d ports, want 1 (7000; 7001 is avoided) before the first retry delay", tried)
	}
	// Port 0 with no range is one try at a kernel port, no retry.
	tried = 0
	if _, err := Bind(context.Background(), BindConfig{Logger: cfg.Logger}, netip.MustParseAddrPort("127.0.0.1:0"), nil, inUse); err == nil || tried != 1 {
		t.Fatalf("kernel-port Bind: %v after %d tries, want the error after 1", err, tried)
	}
	if err := (BindConfig{PortMin: 9, PortMax: 8}).Check(); err == nil {
		t.Fatal("a range out of order passed Check")
	}
}

// TestThrottleShare: with a share, a claim larger than it is refused while
// anyone holds budget, and goes alone once the throttle is empty (a big
// message is never locked out for good); claims within the share follow
// Ceph's rule.
func TestThrottleShare(t *testing.T) {
	th := NewThrottle(perf.NewSet("t"), "b", 100).WithShare(0.25)
	if th.Share() != 25 {
		t.Fatalf("share %d, want 25", th.Share())
	}
	if !th.TryGet(10) {
		t.Fatal("10 within the share refused")
	}
	if th.TryGet(30) {
		t.Fatal("30 (over the 25 share) taken while 10 is held")
	}
	for range 2 {
		if !th.TryGet(25) {
			t.Fatal("a claim at the share refused with room left")
		}
	}
	th.Put(60)
	if !th.TryGet(90) {
		t.Fatal("90 (over the share) refused by an empty throttle")
	}
	if !th.TryGet(1) {
		// 91 <= 100: a small claim still fits beside it.
		t.Fatal("a 1-byte claim refused with room left")
	}
	th.Put(91)
	if !th.TryGet(500) {
		t.Fatal("an oversized claim refused by an empty throttle")
	}
	th.Put(500)
	for _, frac := range []float64{0, -1, 1, 2} {
		if s := NewThrottle(perf.NewSet("t"), "b", 100).WithShare(frac).Share(); s != 0 {
			t.Errorf("WithShare(%v) set share %d, want none", frac, s)
		}
	}
	var none *Throttle
	if none.WithShare(0.5) != nil || none.Share() != 0 {
		t.Fatal("a nil throttle grew a share")
	}
	// Get waits for an empty throttle for an over-share claim.
	th.TryGet(10)
	got := make(chan bool)
	go func() { got <- th.Get(50, func() bool { return false }) }()
	select {
	case <-got:
		t.Fatal("Get of 50 over the share returned while 10 was held")
	case <-time.After(20 * time.Millisecond):
	}
	th.Put(10)
	if !<-got || th.Current() != 50 {
		t.Fatalf("Get after the throttle drained: current %d", th.Current())
	}
}

// TestHandshakeSlots: AdmitAccepted refuses past MaxHandshaking; a slot is
// given back once, however many of ready, socket loss and close report it.
func TestHandshakeSlots(t *testing.T) {
	var s Shell
	if err := s.Init(nil, nil, ShellConfig{MaxHandshaking: 2, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	var a, b Conn
	if !s.AdmitAccepted() || !s.AddAccepted(&a) || !s.AdmitAccepted() || !s.AddAccepted(&b) {
		t.Fatal("two handshakes refused under a bound of 2")
	}
	if s.AdmitAccepted() {
		t.Fatal("a third handshake admitted past the bound of 2")
	}
	s.HandshakeDone(&a)
	s.HandshakeDone(&a)
	if n := s.Handshaking(); n != 1 {
		t.Fatalf("handshaking %d after one finished twice, want 1", n)
	}
	if !s.AdmitAccepted() {
		t.Fatal("a slot given back was not reused")
	}
}
