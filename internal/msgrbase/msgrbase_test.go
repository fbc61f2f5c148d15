package msgrbase

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/perf"
)

func TestPolicySet(t *testing.T) {
	var made []string
	s := NewPolicySet(func(name string, max int64) string {
		made = append(made, name)
		return name
	})
	def := gomsgr.LossyClient(0)
	osd := gomsgr.LosslessPeer(0)
	s.SetDefault(def)
	s.Set(gomsgr.EntityOSD, osd)
	if got := s.Policy(gomsgr.EntityOSD); got != osd {
		t.Errorf("Policy(osd) = %+v, want %+v", got, osd)
	}
	if got := s.Policy(gomsgr.EntityMon); got != def {
		t.Errorf("Policy(mon) = %+v, want the default %+v", got, def)
	}
	want := Throttles[string]{Msgs: "msgr_throttler_messages-osd", Bytes: "msgr_throttler_bytes-osd"}
	if got := s.Throttles(gomsgr.EntityOSD); got != want {
		t.Errorf("Throttles(osd) = %+v, want %+v", got, want)
	}
	want = Throttles[string]{Msgs: "msgr_throttler_messages-default", Bytes: "msgr_throttler_bytes-default"}
	if got := s.Throttles(gomsgr.EntityMon); got != want {
		t.Errorf("Throttles(mon) = %+v, want %+v", got, want)
	}
	if len(made) != 4 {
		t.Errorf("made %d throttles (%v), want 4", len(made), made)
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

func TestBudget(t *testing.T) {
	b := NewBudget(perf.NewSet("t"), "b", 10)
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
	b.Perf().Lock()
	if !b.FitsLocked(10) || !b.FitsLocked(11) {
		t.Error("an empty budget must let anything through")
	}
	if cur := b.TakeLocked(4); cur != 4 || b.FitsLocked(7) {
		t.Errorf("TakeLocked(4) = %d, FitsLocked(7) = %v; want 4, false", cur, b.FitsLocked(7))
	}
	b.Perf().Unlock()
}

func TestDefaults(t *testing.T) {
	var (
		lo, hi, retries, prefetch int
		delay, ready, idle        time.Duration
		dthr                      int64
		logger                    *slog.Logger
	)
	d := Defaults{&lo, &hi, &retries, &delay, &prefetch, &ready, &idle, &dthr, &logger}
	d.SetDefaults()
	if lo != 6800 || hi != 7568 || retries != 3 || delay != 5*time.Second || prefetch != 64<<10 ||
		ready != 10*time.Second || idle != 900*time.Second || dthr != 100<<20 || logger == nil {
		t.Fatalf("defaults: ports %d..%d, retries %d every %v, prefetch %d, ready %v, idle %v, dispatch throttle %d, logger %v",
			lo, hi, retries, delay, prefetch, ready, idle, dthr, logger)
	}
	lo, hi, dthr, ready = 0, 0, -1, time.Second // a set or negative value stays
	hi = 9000
	d.SetDefaults()
	if lo != 0 || hi != 9000 || dthr != -1 || ready != time.Second {
		t.Errorf("set values changed: ports %d..%d, dispatch throttle %d, ready %v", lo, hi, dthr, ready)
	}
}
