package msgrtest

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/testhooks"
)

// What the lossless scenarios share: a recording (and echoing) dispatcher,
// messengers made for a scenario, pings and order checks.

const msgPing, msgPong = 0x7101, 0x7102

// lrec records what a messenger received: messages by connection, in
// order, and connection events; with echo it answers each ping with a
// pong of the same tid.
type lrec struct {
	echo bool
	mu   sync.Mutex
	tids map[gomsgr.Connection][]uint64
	kind map[msgr2.MsgType]map[gomsgr.Connection][]uint64 // tids by message type
	evs  map[string]int
	n    int
}

func newLrec(echo bool) *lrec {
	return &lrec{echo: echo, tids: map[gomsgr.Connection][]uint64{}, evs: map[string]int{},
		kind: map[msgr2.MsgType]map[gomsgr.Connection][]uint64{msgPing: {}, msgPong: {}}}
}

func (r *lrec) Dispatch(m *gomsgr.Message) bool {
	if r.echo && m.Type == msgPing {
		reply := gomsgr.GetMessage()
		reply.Type, reply.Tid, reply.Priority = msgPong, m.Tid, m.Priority
		reply.Front = append(reply.Front[:0], m.Front...)
		// It fails only on a connection closed meanwhile; the test
		// waiting for the pong reports it missing.
		_ = m.Conn.SendMessage(reply)
	}
	r.mu.Lock()
	r.tids[m.Conn] = append(r.tids[m.Conn], m.Tid)
	if k := r.kind[m.Type]; k != nil {
		k[m.Conn] = append(k[m.Conn], m.Tid)
	}
	r.n++
	r.mu.Unlock()
	m.Release()
	return true
}

func (r *lrec) ev(name string) {
	r.mu.Lock()
	r.evs[name]++
	r.mu.Unlock()
}

func (r *lrec) HandleConnect(gomsgr.Connection)        { r.ev("connect") }
func (r *lrec) HandleAccept(gomsgr.Connection)         { r.ev("accept") }
func (r *lrec) HandleReset(gomsgr.Connection) bool     { r.ev("reset"); return true }
func (r *lrec) HandleRemoteReset(c gomsgr.Connection)  { r.ev("remote_reset") }
func (r *lrec) HandleRefused(c gomsgr.Connection) bool { r.ev("refused"); return true }
func (r *lrec) count() int                             { r.mu.Lock(); defer r.mu.Unlock(); return r.n }
func (r *lrec) events(name string) int                 { r.mu.Lock(); defer r.mu.Unlock(); return r.evs[name] }
func (r *lrec) tidsOf(c gomsgr.Connection) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.tids[c]...)
}
func (r *lrec) ofKind(t msgr2.MsgType, c gomsgr.Connection) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.kind[t][c]...)
}
func (r *lrec) conns() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.tids) }

// allEvents returns a copy of the event counts, for failure messages.
func (r *lrec) allEvents() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := make(map[string]int, len(r.evs))
	for k, v := range r.evs {
		evs[k] = v
	}
	return evs
}

// lopts is what a scenario asks of one messenger.
type lopts struct {
	name         gomsgr.EntityName
	pol          gomsgr.Policy
	inject       testhooks.Inject
	bind         bool
	echo         bool
	ready, idle  time.Duration
	initialBkoff time.Duration
	step         func(testhooks.Role, testhooks.Step) testhooks.Action
}

// sessionStatser is a messenger that counts what its sessions went
// through (both of ours).
type sessionStatser interface {
	gomsgr.Messenger
	SessionStats() gomsgr.SessionStats
}

// stater is a connection that names its state (both of ours).
type stater interface {
	gomsgr.Connection
	State() string
}

// newLmsgr starts a messenger for a scenario, shut down when t ends.
func newLmsgr(t *testing.T, newMsgr Factory, o lopts) (sessionStatser, *lrec) {
	t.Helper()
	cfg := Config{Name: o.name, ReadyTimeout: o.ready, IdleTimeout: o.idle, InitialBackoff: o.initialBkoff,
		Testing: &testhooks.Config{Inject: o.inject, Step: o.step}}
	if os.Getenv("GOMSGR_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("msgr", o.name.String())
	}
	m := newMsgr(t, cfg)
	t.Cleanup(func() { shutdown(t, m) })
	sm, ok := m.(sessionStatser)
	if !ok {
		t.Fatalf("%T has no SessionStats method", m)
	}
	r := newLrec(o.echo)
	if o.bind {
		Serve(t, m, o.pol, r)
	} else {
		Start(t, m, o.pol, r)
	}
	return sm, r
}

var (
	osdName    = gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}
	osd1Name   = gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}
	clientName = gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 1}
)

func ping(tid uint64) *gomsgr.Message {
	m := gomsgr.GetMessage()
	m.Type, m.Tid = msgPing, tid
	m.Front = fmt.Appendf(m.Front[:0], "ping %d", tid)
	return m
}

// send sends m on c, failing t if it cannot be queued.
func send(t *testing.T, c gomsgr.Connection, m *gomsgr.Message) {
	t.Helper()
	if err := c.SendMessage(m); err != nil {
		t.Fatalf("SendMessage tid %d: %v", m.Tid, err)
	}
}

// checkInOrder fails unless tids is exactly 1..n.
func checkInOrder(t *testing.T, what string, tids []uint64, n int) {
	t.Helper()
	if len(tids) != n {
		t.Fatalf("%s: %d messages, want %d", what, len(tids), n)
	}
	for i, tid := range tids {
		if tid != uint64(i+1) {
			t.Fatalf("%s: message %d has tid %d (lost, duplicated or reordered)", what, i, tid)
		}
	}
}

// pinged opens cli's session to srv and waits for the pong to ping 1.
func pinged(t *testing.T, cli, srv gomsgr.Messenger, cr *lrec) stater {
	t.Helper()
	c := sessionTo(t, cli, srv.Addrs()[0])
	send(t, c, ping(1))
	WaitUntil(t, 10*time.Second, "pong 1", func() bool { return cr.count() == 1 })
	return c
}

// sessionTo returns the messenger's connection to addr.
func sessionTo(t *testing.T, m gomsgr.Messenger, addr gomsgr.EntityAddr) stater {
	t.Helper()
	c, err := m.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := c.(stater)
	if !ok {
		t.Fatalf("%T has no State method", c)
	}
	return sc
}
