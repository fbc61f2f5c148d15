// Package msgrtest is the messenger conformance suite: Ceph's test_msgr
// scenarios written once against the gomsgr.Messenger interface and run
// unchanged by every implementation (conn on each driver, simple).
package msgrtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Config is what a test asks of a new messenger. Zero fields take the
// messenger's defaults; a factory passes each to the option of the same
// name.
type Config struct {
	Name         gomsgr.EntityName
	IdleTimeout  time.Duration
	ReadyTimeout time.Duration
	// InitialBackoff is the first wait before a lossless session that
	// failed while connecting dials again; MaxBackoff the longest.
	InitialBackoff, MaxBackoff time.Duration
	// DispatchThrottleBytes is the messenger's dispatch throttle
	// (negative: off).
	DispatchThrottleBytes int64
	// MessageProgressTimeout, ThrottleShare and MaxHandshaking are the
	// hostile-peer bounds (zero: the messenger's defaults; negative: off).
	MessageProgressTimeout time.Duration
	ThrottleShare          float64
	MaxHandshaking         int
	// Workers is the number of event-loop workers, for a messenger that
	// has them (0: the factory's choice).
	Workers int
	// Testing holds the step hooks and fault injection (nil: none).
	Testing *testhooks.Config
	// Logger, when set, receives the messenger's log (RunLossless sets a
	// debug logger when GOMSGR_DEBUG is set).
	Logger *slog.Logger
	// Auth is the messenger's authentication (nil: none, crc).
	Auth *auth.Config
}

// Factory creates an unstarted messenger for cfg.
type Factory func(t testing.TB, cfg Config) gomsgr.Messenger

// Run runs the whole suite against the messengers newMsgr creates.
func Run(t *testing.T, newMsgr Factory) {
	tests := []struct {
		name string
		f    func(*testing.T, Factory)
	}{
		{"Simple", testSimple},
		{"Loopback", testLoopback},
		{"LargeMessage", testLargeMessage},
		{"Priority", testPriority},
		{"ManyClients", testManyClients},
		{"MissingFeatures", testMissingFeatures},
		{"IdleTimeout", testIdleTimeout},
		{"RefusedPort", testRefused},
		{"BadInput", testBadInput},
		{"SendAfterServerShutdown", testSendAfterServerShutdown},
		{"ConfigFixedAfterStart", testConfigFixed},
		{"BindKernelPort", testBindKernelPort},
		{"WaitReady", testWaitReady},
		{"ZeroAllocs", testZeroAllocs},
		{"Stallers", testStallers},
		{"StallNoThrottle", testStallNoThrottle},
		{"StallLossless", testStallLossless},
		{"ThrottleShare", testThrottleShare},
		{"HandshakeBound", testHandshakeBound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tc.f(t, newMsgr)
		})
	}
}

// MsgTest is the message type the suite sends (an application type).
const MsgTest = 0x7001

// recorder is a dispatcher that records messages and events; with echo it
// sends every message back on its connection.
type recorder struct {
	echo bool
	mu   sync.Mutex
	cond *sync.Cond
	msgs []*gomsgr.Message
	evs  []string
}

func newRecorder(echo bool) *recorder {
	r := &recorder{echo: echo}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) Dispatch(m *gomsgr.Message) bool {
	var reply *gomsgr.Message
	if r.echo {
		reply = &gomsgr.Message{Type: m.Type, Priority: m.Priority, Tid: m.Tid,
			Front: bytes.Clone(m.Front), Middle: bytes.Clone(m.Middle), Data: bytes.Clone(m.Data)}
	}
	// Record first, so that whoever sees the echo also sees the record.
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.cond.Broadcast()
	if reply != nil {
		// It fails only on a connection marked down or a messenger
		// shutting down; the test waiting for the echo reports it missing.
		_ = m.Conn.SendMessage(reply)
	}
	return true
}

func (r *recorder) event(s string) {
	r.mu.Lock()
	r.evs = append(r.evs, s)
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *recorder) HandleConnect(c gomsgr.Connection)      { r.event("connect") }
func (r *recorder) HandleAccept(c gomsgr.Connection)       { r.event("accept") }
func (r *recorder) HandleReset(c gomsgr.Connection) bool   { r.event("reset"); return true }
func (r *recorder) HandleRemoteReset(c gomsgr.Connection)  { r.event("remote-reset") }
func (r *recorder) HandleRefused(c gomsgr.Connection) bool { r.event("refused"); return true }

// waitFor waits until cond (called with r.mu held) holds, or fails.
func (r *recorder) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { r.cond.Broadcast() })
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (have %d messages, events %v)", d, what, len(r.msgs), r.evs)
		}
		r.cond.Wait()
	}
}

// msg returns the i-th recorded message.
func (r *recorder) msg(i int) *gomsgr.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[i]
}

// all returns a copy of the recorded messages.
func (r *recorder) all() []*gomsgr.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*gomsgr.Message(nil), r.msgs...)
}

// events returns a copy of the recorded events.
func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.evs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) hasEvent(e string) bool {
	for _, x := range r.evs {
		if x == e {
			return true
		}
	}
	return false
}

var (
	osd0    = gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}
	client1 = gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4101}
	local   = netip.MustParseAddrPort("127.0.0.1:0")
)

// server starts a bound messenger with an echo recorder.
func server(t *testing.T, newMsgr Factory, cfg Config, pol gomsgr.Policy) (gomsgr.Messenger, *recorder) {
	t.Helper()
	if cfg.Name == (gomsgr.EntityName{}) {
		cfg.Name = osd0
	}
	r := newRecorder(true)
	m := Serve(t, newMsgr(t, cfg), pol, r)
	t.Cleanup(func() { shutdown(t, m) })
	return m, r
}

// client starts a messenger that only connects, with a recorder.
func client(t *testing.T, newMsgr Factory, cfg Config, pol gomsgr.Policy) (gomsgr.Messenger, *recorder) {
	t.Helper()
	if cfg.Name == (gomsgr.EntityName{}) {
		cfg.Name = client1
	}
	r := newRecorder(false)
	m := Start(t, newMsgr(t, cfg), pol, r)
	t.Cleanup(func() { shutdown(t, m) })
	return m, r
}

func payload(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7)
	}
	return b
}

func testSimple(t *testing.T, newMsgr Factory) {
	srv, sr := server(t, newMsgr, Config{}, gomsgr.StatelessServer(0))
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	addr := srv.Addrs()[0]
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	if again != c {
		t.Fatal("ConnectTo a second time returned a new connection")
	}
	m := &gomsgr.Message{Type: MsgTest, Tid: 7, Front: []byte("hello"), Middle: []byte("mid"), Data: payload(1, 5000)}
	if err := c.SendMessage(m); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "the echo", func() bool { return len(cr.msgs) == 1 })
	got := cr.msg(0)
	if got.Type != MsgTest || got.Tid != 7 || string(got.Front) != "hello" || string(got.Middle) != "mid" || !bytes.Equal(got.Data, payload(1, 5000)) {
		t.Fatalf("echo differs: type %#x tid %d front %q middle %q data %d bytes", got.Type, got.Tid, got.Front, got.Middle, len(got.Data))
	}
	if got.Src != osd0 || got.Seq != 1 {
		t.Fatalf("echo from %v seq %d, want %v seq 1", got.Src, got.Seq, osd0)
	}
	if sm := sr.msg(0); sm.Src != client1 {
		t.Fatalf("server saw sender %v, want %v", sm.Src, client1)
	}
	if !c.IsConnected() || c.PeerName() != osd0 {
		t.Fatalf("connected %v, peer %v", c.IsConnected(), c.PeerName())
	}
	cr.waitFor(t, 5*time.Second, "connect event", func() bool { return cr.hasEvent("connect") })
	sr.waitFor(t, 5*time.Second, "accept event", func() bool { return sr.hasEvent("accept") })

	c.MarkDown()
	if c.IsConnected() {
		t.Fatal("connected after MarkDown")
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest}); err == nil {
		t.Fatal("SendMessage on a marked-down connection succeeded")
	}
	// A new ConnectTo makes a new session.
	c2, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c {
		t.Fatal("ConnectTo after MarkDown returned the marked-down connection")
	}
	if err := c2.SendMessage(&gomsgr.Message{Type: MsgTest, Front: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "the second echo", func() bool {
		for _, m := range cr.msgs {
			if string(m.Front) == "again" {
				return true
			}
		}
		return false
	})
}

func testLoopback(t *testing.T, newMsgr Factory) {
	srv, sr := server(t, newMsgr, Config{}, gomsgr.StatelessServer(0))
	c, err := srv.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsConnected() {
		t.Fatal("loopback connection not connected")
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Front: []byte("self")}); err != nil {
		t.Fatal(err)
	}
	sr.waitFor(t, 5*time.Second, "loopback delivery", func() bool { return len(sr.msgs) >= 1 })
	if m := sr.msg(0); string(m.Front) != "self" || m.Src != osd0 {
		t.Fatalf("loopback got %q from %v", m.Front, m.Src)
	}
}

func testLargeMessage(t *testing.T, newMsgr Factory) {
	srv, _ := server(t, newMsgr, Config{}, gomsgr.StatelessServer(0))
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	front, data := payload(2, 800_000), payload(3, 800_000)
	if err := cli.SendTo(&gomsgr.Message{Type: MsgTest, Front: front, Data: data}, gomsgr.EntityOSD, srv.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 20*time.Second, "the 1.6 MB echo", func() bool { return len(cr.msgs) == 1 })
	if m := cr.msg(0); !bytes.Equal(m.Front, front) || !bytes.Equal(m.Data, data) {
		t.Fatalf("large message corrupted: front %d/%d bytes, data %d/%d", len(m.Front), len(front), len(m.Data), len(data))
	}
}

// fastRecorder records arrival order on the worker (fast dispatch), so
// that the dispatch queue's own ordering does not hide the out-queue's.
type fastRecorder struct{ *recorder }

func (f fastRecorder) CanFastDispatch(*gomsgr.Message) bool { return true }
func (f fastRecorder) FastDispatch(m *gomsgr.Message)       { f.Dispatch(m) }

func testPriority(t *testing.T, newMsgr Factory) {
	srv := newMsgr(t, Config{Name: osd0})
	fr := fastRecorder{newRecorder(false)}
	configure(t, srv, gomsgr.StatelessServer(0), fr)
	if err := srv.Bind(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, srv) })
	cli, _ := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	// The server listens but does not accept yet, so the handshake cannot
	// finish: queue 50 low-priority messages, then one high.
	for i := 0; i < 50; i++ {
		if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Priority: gomsgr.PrioLow, Tid: uint64(i), Data: payload(i, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Priority: gomsgr.PrioHighest, Tid: 999}); err != nil {
		t.Fatal(err)
	}
	if c.IsConnected() {
		t.Fatal("connected to a server that does not accept yet")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	fr.waitFor(t, 10*time.Second, "51 messages", func() bool { return len(fr.msgs) == 51 })
	msgs := fr.all()
	if first := msgs[0]; first.Tid != 999 {
		t.Fatalf("first message written was tid %d, want the high-priority 999 (queued last)", first.Tid)
	}
	for i, m := range msgs[1:] {
		if m.Tid != uint64(i) {
			t.Fatalf("low-priority message %d arrived as tid %d: FIFO order broken", i, m.Tid)
		}
	}
}

func testManyClients(t *testing.T, newMsgr Factory) {
	clients, per := 64, 1000
	if testing.Short() || raceEnabled {
		clients, per = 16, 200
	}
	srv, _ := server(t, newMsgr, Config{}, gomsgr.StatelessServer(0))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			name := gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(5000 + id)}
			cli, cr := client(t, newMsgr, Config{Name: name}, gomsgr.LossyClient(0))
			_ = cli
			c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < per; j++ {
				var front [8]byte
				binary.LittleEndian.PutUint64(front[:], uint64(j))
				if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Front: front[:], Data: payload(id+j, 16+j%512)}); err != nil {
					errs <- err
					return
				}
			}
			deadline := time.Now().Add(60 * time.Second)
			for cr.count() < per {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("client %d: %d of %d echoes", id, cr.count(), per)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			cr.mu.Lock()
			defer cr.mu.Unlock()
			for j, m := range cr.msgs {
				if got := binary.LittleEndian.Uint64(m.Front); got != uint64(j) {
					errs <- fmt.Errorf("client %d: echo %d carries index %d: order broken", id, j, got)
					return
				}
				if !bytes.Equal(m.Data, payload(id+j, 16+j%512)) {
					errs <- fmt.Errorf("client %d: echo %d payload differs", id, j)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testMissingFeatures(t *testing.T, newMsgr Factory) {
	spol := gomsgr.StatelessServer(0)
	spol.FeaturesRequired = 1 << 62
	srv, sr := server(t, newMsgr, Config{}, spol)
	cpol := gomsgr.LossyClient(0)
	cpol.FeaturesSupported = 0x3f | 1<<59 // not bit 62
	cli, cr := client(t, newMsgr, Config{}, cpol)
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	// The failed handshake may mark the connection down before this send:
	// then it reports ErrClosed.
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Front: []byte("x")}); err != nil && !errors.Is(err, gomsgr.ErrClosed) {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "the client's connection to fail", func() bool { return cr.hasEvent("reset") || cr.hasEvent("refused") })
	if c.IsConnected() || sr.count() != 0 || contains(sr.events(), "accept") {
		t.Fatalf("a client lacking a required feature connected: connected %v, server got %d messages, events %v", c.IsConnected(), sr.count(), sr.events())
	}
}

func testIdleTimeout(t *testing.T, newMsgr Factory) {
	srv, sr := server(t, newMsgr, Config{IdleTimeout: 300 * time.Millisecond}, gomsgr.StatelessServer(0))
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Front: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "echo", func() bool { return len(cr.msgs) == 1 })
	// Nothing more is sent: the server closes the idle connection, and the
	// lossy client sees a reset.
	sr.waitFor(t, 10*time.Second, "the server's idle reset", func() bool { return sr.hasEvent("reset") })
	cr.waitFor(t, 10*time.Second, "the client's reset", func() bool { return cr.hasEvent("reset") })
	if c.IsConnected() {
		t.Fatal("connection still connected after the idle timeout")
	}
}

func testRefused(t *testing.T, newMsgr Factory) {
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	// A port nobody listens on: the kernel's pick from the ephemeral range,
	// closed again.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: netip.MustParseAddrPort(ln.Addr().String())}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	// The refusal may mark the connection down before this send: then it
	// reports ErrClosed.
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest}); err != nil && !errors.Is(err, gomsgr.ErrClosed) {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "refused", func() bool { return cr.hasEvent("refused") })
}

func testSendAfterServerShutdown(t *testing.T, newMsgr Factory) {
	srv := newMsgr(t, Config{Name: osd0})
	configure(t, srv, gomsgr.StatelessServer(0), newRecorder(true))
	if err := srv.Bind(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Front: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "echo", func() bool { return len(cr.msgs) == 1 })
	shutdown(t, srv)
	cr.waitFor(t, 10*time.Second, "reset after the server went away", func() bool { return cr.hasEvent("reset") })
	// Sending now must not hang: the lossy connection is gone, a new one is
	// refused.
	// The new connection may be refused before SendTo queues the message:
	// then SendTo reports ErrClosed instead of dropping it silently.
	if err := cli.SendTo(&gomsgr.Message{Type: MsgTest}, gomsgr.EntityOSD, srv.Addrs()[0]); err != nil && !errors.Is(err, gomsgr.ErrClosed) {
		t.Fatalf("SendTo after the server shut down: %v", err)
	}
	cr.waitFor(t, 10*time.Second, "refused", func() bool { return cr.hasEvent("refused") })
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
