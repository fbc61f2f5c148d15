package conn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/testhooks"
)

// The synthetic workload: a port of the design of Ceph's SyntheticWorkload
// (src/test/msgr/test_msgr.cc). N server messengers echo every message;
// M client messengers open connections to random servers, send random
// payloads on random connections, mark random connections down and sleep,
// in a random mix. Each client checks every echo (PONG): per connection and
// priority they arrive in the order sent, byte-identical to the payload,
// on the connection the PING went out on (a reply to a PING of a session
// that was reset before the server dispatched it must not reach the new
// session). With lossless policies nothing may be lost: at the end every
// message sent has its PONG, except those a mark-down or a session reset (a
// HandleReset or HandleRemoteReset event on the connection) forgave.
//
// Run: go test -race -run Synthetic ./conn -v 2>&1 | grep -E 'synthetic:|FAIL|ok|panic'
// Each run logs one line starting with "synthetic:" (ops, messages,
// summed SessionStats, events, lost, errors, wall time, seed). Default
// size: 4 servers x 8 clients, 3,000 ops, payloads up to 1 MiB under -race
// (4 MiB without). GOMSGR_STRESS=1 selects Ceph's sizes (8 servers x 32 clients, thousands
// of ops, payloads up to 4 MiB). GOMSGR_SYNTHETIC_SEED=n replays a seed (of
// the test's choices; the messengers' own fault injection is not seeded).
// GOMSGR_SYNTHETIC_DEADLINE=10s changes how long in-flight messages may
// wait for their PONG (default 60s). GOMSGR_SYNTHETIC_LOG=1 writes every
// run's debug log (messenger faults, session decisions and the workload's
// events) to a file in $TMPDIR; a failing run always does, and its report
// shows the pending connections' log lines, both ends' connection states
// and the kernel's view of their sockets.

const (
	synPing msgr2.MsgType = 0x7301
	synPong msgr2.MsgType = 0x7302
)

// Tid layout: per-connection sequence number << 9 | class << 8 | payload
// index (class 1: the PrioHighest "interlopers", ordered among themselves
// only).
func synTid(seq uint64, class, idx int) uint64 { return seq<<9 | uint64(class)<<8 | uint64(idx) }
func synUntid(tid uint64) (seq uint64, class, idx int) {
	return tid >> 9, int(tid>>8) & 1, int(tid & 0xff)
}

type synVariant struct {
	name           string
	srvPol, cliPol gomsgr.Policy
	srvInj, cliInj testhooks.Inject
	dispatchBytes  int64 // DispatchThrottleBytes (0: default)
	congestion     bool  // Congestion{100} on the client for the first large sends
	// Op mix in percent: connect, mark down, sleep; the rest sends.
	connectPct, dropPct, sleepPct int
	sleepMin, sleepMax            time.Duration
	opsScale                      int // GOMSGR_STRESS=1: ops times this (0: 1)
}

// bindClients: clients of peer policies must be reachable for the server
// side to reconnect (Ceph binds them when the client policy is standby).
func (v *synVariant) bindClients() bool { return v.cliPol.Standby }

// peerPolicies: both sides lossless peers; a mark-down then marks down both
// ends (as Ceph's drop_connection does), else the server side would
// reconnect to the client with the old session.
func (v *synVariant) peerPolicies() bool {
	return !v.cliPol.Server && !v.cliPol.Lossy && v.cliPol.Standby && !v.srvPol.Server && !v.srvPol.Lossy
}

type synSize struct {
	servers, clients int
	ops              int
	payloads         int
	maxPayload       int // bytes
	memCap           int // total payload bytes
	maxInFlight      int // messages awaiting a PONG, workload-wide
	maxConns         int // live connections
	minLive          int // mark down only with more live connections than this
	deadline         time.Duration
}

func synSizes() synSize {
	sz := synBaseSizes()
	if d, err := time.ParseDuration(os.Getenv("GOMSGR_SYNTHETIC_DEADLINE")); err == nil {
		sz.deadline = d
	}
	return sz
}

func synBaseSizes() synSize {
	if os.Getenv("GOMSGR_STRESS") != "" {
		// GOMSGR_STRESS=1: the larger setting, Ceph's SyntheticStressTest.
		return synSize{servers: 8, clients: 32, ops: 5000, payloads: 100, maxPayload: 4 << 20, memCap: 96 << 20,
			maxInFlight: 64, maxConns: 128, minLive: 10, deadline: 5 * time.Minute}
	}
	sz := synSize{servers: 4, clients: 8, ops: 3000, payloads: 100, maxPayload: 4 << 20, memCap: 48 << 20,
		maxInFlight: 64, maxConns: 128, minLive: 8, deadline: 60 * time.Second}
	if raceEnabled {
		sz.maxPayload, sz.memCap = 1<<20, 24<<20
	}
	return sz
}

func synVariants() []synVariant {
	inj := testhooks.Inject{SocketFailures: 30, InternalDelay: time.Millisecond}
	injDelay := inj
	injDelay.DelayType, injDelay.DelayMax, injDelay.DelayProbability = gomsgr.EntityOSD, 10*time.Millisecond, 0.1
	stress := synVariant{connectPct: 9, dropPct: 10, sleepPct: 11, sleepMin: 500 * time.Microsecond, sleepMax: 1500 * time.Microsecond}
	injMix := synVariant{connectPct: 9, dropPct: 10, sleepPct: 11, sleepMin: 100 * time.Microsecond, sleepMax: 600 * time.Microsecond}
	v := func(base synVariant, name string, srv, cli gomsgr.Policy) synVariant {
		base.name, base.srvPol, base.cliPol = name, srv, cli
		return base
	}
	ssLc := func(name string) synVariant {
		return v(stress, name, gomsgr.StatefulServer(0), gomsgr.LosslessClient(0))
	}
	peer := v(stress, "LosslessPeerReuse", gomsgr.LosslessPeerReuse(0), gomsgr.LosslessPeerReuse(0))
	peer.connectPct, peer.dropPct = 19, 20 // Ceph's SyntheticStressTest1
	peer.opsScale = 2                      // and 10,000 ops where the others do 5,000
	injV := v(injMix, "Inject", gomsgr.StatefulServer(0), gomsgr.LosslessClient(0))
	injV.srvInj, injV.cliInj, injV.dispatchBytes = inj, inj, 16<<20
	delayV := injV
	delayV.name, delayV.cliInj = "InjectDelay", injDelay
	cong := ssLc("Congestion")
	cong.congestion = true
	return []synVariant{ssLc("StatefulServerLosslessClient"), peer, injV, delayV, cong}
}

func TestSynthetic(t *testing.T) {
	sz := synSizes()
	for _, v := range synVariants() {
		t.Run(v.name, func(t *testing.T) {
			for _, d := range []string{"epoll", "uring"} {
				t.Run(d, func(t *testing.T) { runSynthetic(t, v, d, sz) })
			}
		})
	}
}

// --- the workload ---

type synPend struct {
	seq  uint64
	idx  int
	sent time.Time
}

// synConn is a client connection the workload tracks.
type synConn struct {
	id       int
	c        *conn.Connection
	cli, srv int
	seq      uint64       // last per-connection sequence number given
	pend     [2][]synPend // awaiting a PONG, per class, in send order
	forgiven uint64       // PONGs of seq <= forgiven are not checked
	down     bool         // marked down or reset: no longer used
	live     int          // index in synWorkload.live, -1 once down
	sent     int
	ponged   int
}

type synStats struct {
	connects, sends, drops, sleeps        int
	sent                                  int
	newConns, sendRefused                 int
	interlopers, congested                int
	pongs, pongBytes                      int64
	forgiven, late, stray                 int
	resetEv, remoteResetEv, connectEv     int
	acceptEv, refusedEv                   int
	srvResetEv, srvRemoteResetEv, echoErr int
	srvStale, crossRacy, resetAfterDown   int
	slowWaits                             int
	maxWait                               time.Duration
}

type synWorkload struct {
	t        *testing.T
	v        synVariant
	sz       synSize
	driver   string
	seed     uint64
	rng      *rand.Rand // test goroutine only
	payloads [][]byte
	servers  []*conn.Messenger
	clients  []*conn.Messenger
	srvAddrs []gomsgr.EntityAddr
	ring     *synRing
	log      *slog.Logger

	mu        sync.Mutex
	conns     map[*conn.Connection]*synConn
	all       []*synConn
	live      []*synConn
	pending   int
	nextID    int
	nextSrvID int
	st        synStats
	errs      []string
	nerrs     int
	stalled   string
	slow      []string // pending reports of slow waits
}

func runSynthetic(t *testing.T, v synVariant, driver string, sz synSize) {
	// The runtime's poller opens its fds once, on first use (a pipe uses
	// it): before leakcheck's snapshot, not during the test.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	leakcheck.Check(t)
	fdsBefore := leakcheck.OpenFds(t)
	start := time.Now()
	seed := rand.Uint64()
	if s := os.Getenv("GOMSGR_SYNTHETIC_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GOMSGR_SYNTHETIC_SEED: %v", err)
		}
		seed = n
	}
	w := &synWorkload{t: t, v: v, sz: sz, driver: driver, seed: seed,
		rng: rand.New(rand.NewPCG(seed, 0x5e7)), conns: map[*conn.Connection]*synConn{}}
	w.ring = newSynRing(50_000)
	base := slog.New(slog.NewTextHandler(w.ring, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.log = base.With("msgr", "test")
	w.makePayloads()
	var shutOnce sync.Once
	shutdown := func() {
		shutOnce.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for _, m := range append(slices.Clone(w.clients), w.servers...) {
				if err := m.Shutdown(ctx); err != nil {
					t.Errorf("shutdown %v: %v", m.Name(), err)
				}
			}
		})
	}
	t.Cleanup(shutdown) // on a failure before the end; leakcheck runs after
	w.startMessengers(base)

	// Seed connections (Ceph: 100 tries, or 10 for the peer test).
	for i := 0; i < min(100, sz.servers*sz.clients); i++ {
		w.connect()
	}
	if v.opsScale > 1 && os.Getenv("GOMSGR_STRESS") != "" {
		sz.ops *= v.opsScale
		w.sz.ops = sz.ops
	}
	for i := 0; i < sz.ops && w.stalledReason() == ""; i++ {
		x := w.rng.IntN(100)
		switch {
		case x >= 100-v.connectPct:
			w.st.connects++
			w.connect()
		case x >= 100-v.connectPct-v.dropPct:
			w.st.drops++
			w.drop()
		case x >= v.sleepPct:
			w.st.sends++
			w.send()
		default:
			w.st.sleeps++
			time.Sleep(v.sleepMin + time.Duration(w.rng.Int64N(int64(v.sleepMax-v.sleepMin))))
		}
	}
	opsDone := time.Now()

	// Drain: every in-flight message gets its PONG, or the deadline passes.
	drainDeadline := time.Now().Add(sz.deadline)
	if w.stalledReason() != "" {
		drainDeadline = time.Now() // stuck for a whole deadline already
	}
	for {
		w.mu.Lock()
		n := w.pending
		w.mu.Unlock()
		if n == 0 || time.Now().After(drainDeadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.mu.Lock()
	lost := w.pending
	var report string
	if lost > 0 {
		report = w.pendingReportLocked()
	}
	w.mu.Unlock()
	drained := time.Now()
	shutdown()
	wall := time.Since(start)

	var ss gomsgr.SessionStats
	for _, m := range append(slices.Clone(w.servers), w.clients...) {
		s := m.SessionStats()
		ss.Faults += s.Faults
		ss.Reconnects += s.Reconnects
		ss.Standbys += s.Standbys
		ss.Requeued += s.Requeued
		ss.Replayed += s.Replayed
		ss.Duplicates += s.Duplicates
		ss.Skipped += s.Skipped
		ss.Replacements += s.Replacements
		ss.RemoteResets += s.RemoteResets
		ss.InjectedSocketFailures += s.InjectedSocketFailures
		ss.InjectedCongestion += s.InjectedCongestion
		ss.InjectedDelays += s.InjectedDelays
		ss.InjectedRecvDelays += s.InjectedRecvDelays
	}
	w.mu.Lock()
	st := w.st
	nerrs, errs := w.nerrs, slices.Clone(w.errs)
	stalled := w.stalled
	slow := slices.Clone(w.slow)
	w.mu.Unlock()
	t.Logf("synthetic: variant=%s driver=%s servers=%d clients=%d ops=%d(connect=%d send=%d drop=%d sleep=%d) "+
		"conns=%d sent=%d interlopers=%d congested=%d send_refused=%d pongs=%d pong_MiB=%.1f forgiven=%d late=%d stray=%d "+
		"faults=%d reconnects=%d standbys=%d requeued=%d replayed=%d duplicates=%d skipped=%d replacements=%d remote_resets=%d "+
		"inj_socket=%d inj_congestion=%d inj_delays=%d inj_recv_delays=%d "+
		"ev_reset=%d ev_remote_reset=%d ev_connect=%d ev_accept=%d ev_refused=%d srv_ev_reset=%d srv_ev_remote_reset=%d srv_stale_pings=%d cross_session_racy=%d ev_reset_after_markdown=%d echo_errors=%d slow_waits=%d max_wait=%v "+
		"lost=%d errors=%d wall=%v (ops %v, drain %v) seed=%d",
		v.name, driver, sz.servers, sz.clients, sz.ops, st.connects, st.sends, st.drops, st.sleeps,
		st.newConns, st.sent, st.interlopers, st.congested, st.sendRefused, st.pongs, float64(st.pongBytes)/(1<<20),
		st.forgiven, st.late, st.stray,
		ss.Faults, ss.Reconnects, ss.Standbys, ss.Requeued, ss.Replayed, ss.Duplicates, ss.Skipped, ss.Replacements, ss.RemoteResets,
		ss.InjectedSocketFailures, ss.InjectedCongestion, ss.InjectedDelays, ss.InjectedRecvDelays,
		st.resetEv, st.remoteResetEv, st.connectEv, st.acceptEv, st.refusedEv, st.srvResetEv, st.srvRemoteResetEv, st.srvStale, st.crossRacy, st.resetAfterDown, st.echoErr, st.slowWaits, st.maxWait.Round(time.Millisecond),
		lost, nerrs, wall.Round(time.Millisecond), opsDone.Sub(start).Round(time.Millisecond),
		drained.Sub(opsDone).Round(time.Millisecond), seed)

	for _, r := range slow {
		t.Logf("synthetic: %s/%s slow: %s", v.name, driver, r)
	}
	leaked := synLeakedSockets(fdsBefore)
	if len(leaked) > 0 {
		// leakcheck fails the test; this says which connection it was.
		t.Logf("synthetic: sockets left open after shutdown: %v (servers %v, clients %v)", leaked, w.srvAddrs, w.clientAddrs())
	}
	failed := lost > 0 || nerrs > 0 || stalled != "" || len(leaked) > 0
	if failed || os.Getenv("GOMSGR_SYNTHETIC_LOG") != "" {
		if path, err := w.ring.dumpFile(v.name + "-" + driver); err == nil {
			t.Logf("synthetic: debug log of %s/%s: %s", v.name, driver, path)
		}
	}
	for _, e := range errs {
		t.Errorf("%s", e)
	}
	if nerrs > len(errs) {
		t.Errorf("... and %d more errors", nerrs-len(errs))
	}
	if stalled != "" {
		t.Errorf("workload stalled: %s", stalled)
	}
	if lost > 0 {
		t.Fatalf("%d messages lost (no PONG %v after the ops ended, none forgiven):\n%s", lost, sz.deadline, report)
	}
}

func (w *synWorkload) makePayloads() {
	// Log-uniform sizes from 32 B to maxPayload: most small, a few large.
	sizes := make([]int, w.sz.payloads)
	total := 0
	lo, hi := math.Log(32), math.Log(float64(w.sz.maxPayload))
	for i := range sizes {
		sizes[i] = int(math.Exp(lo + w.rng.Float64()*(hi-lo)))
		total += sizes[i]
	}
	for total > w.sz.memCap { // cap the memory: halve the largest
		j := 0
		for i := range sizes {
			if sizes[i] > sizes[j] {
				j = i
			}
		}
		total -= sizes[j] / 2
		sizes[j] -= sizes[j] / 2
	}
	// Contents: chunks of a random pool at random offsets (copies, cheap
	// under -race), stamped with the index every 4 KiB as Ceph does.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], w.seed)
	pool := make([]byte, 256<<10)
	rand.NewChaCha8(key).Read(pool)
	w.payloads = make([][]byte, len(sizes))
	for i, n := range sizes {
		p := make([]byte, n)
		for off := 0; off < n; {
			src := pool[w.rng.IntN(len(pool)/2):]
			off += copy(p[off:], src[:min(len(src), 16<<10)])
		}
		for off := 0; off+8 <= n; off += 4096 {
			binary.LittleEndian.PutUint64(p[off:], uint64(i))
		}
		w.payloads[i] = p
	}
}

func (w *synWorkload) opts(name gomsgr.EntityName, workers int, inj testhooks.Inject, base *slog.Logger) conn.Options {
	return conn.Options{
		Name:                  name,
		Workers:               workers,
		Center:                centerCfg(w.driver),
		ReadyTimeout:          5 * time.Second,
		InitialBackoff:        20 * time.Millisecond,
		MaxBackoff:            time.Second,
		DispatchThrottleBytes: w.v.dispatchBytes,
		Testing:               &testhooks.Config{Inject: inj},
		Logger:                base.With("msgr", name.String()),
	}
}

func (w *synWorkload) startMessengers(base *slog.Logger) {
	t := w.t
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	for i := 0; i < w.sz.servers; i++ {
		m, err := conn.NewMessenger(w.opts(gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: int64(i)}, 2, w.v.srvInj, base))
		if err != nil {
			t.Fatal(err)
		}
		w.servers = append(w.servers, m) // shut down even if the test stops here
		m.SetDefaultPolicy(w.v.srvPol)
		m.AddDispatcher(&synServer{w: w, idx: i})
		if err := m.Bind(context.Background(), lo); err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		w.srvAddrs = append(w.srvAddrs, m.Addrs()[0])
	}
	for i := 0; i < w.sz.clients; i++ {
		m, err := conn.NewMessenger(w.opts(gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(100 + i)}, 1+i%2, w.v.cliInj, base))
		if err != nil {
			t.Fatal(err)
		}
		w.clients = append(w.clients, m)
		m.SetDefaultPolicy(w.v.cliPol)
		m.AddDispatcher(&synClient{w: w, idx: i})
		if w.v.bindClients() {
			if err := m.Bind(context.Background(), lo); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *synWorkload) errorf(format string, args ...any) {
	w.nerrs++
	if len(w.errs) < 30 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

func (w *synWorkload) stalledReason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stalled
}

// waitInFlightLocked waits, with mu released meanwhile, until at most
// maxInFlight messages await their PONG (Ceph's _get_random_connection).
// False: the workload stalled for the whole deadline.
func (w *synWorkload) waitInFlightLocked() bool {
	if w.stalled != "" {
		return false
	}
	var start, limit time.Time
	noted := false
	for w.pending > w.sz.maxInFlight {
		if limit.IsZero() {
			start = time.Now()
			limit = start.Add(w.sz.deadline)
		} else if !noted && time.Since(start) > synSlowWait {
			// Not a failure (a reset or mark-down may still forgive), but
			// worth a look: what has been waiting that long?
			noted = true
			w.st.slowWaits++
			if len(w.slow) < 3 {
				w.slow = append(w.slow, fmt.Sprintf("in-flight limit reached for %v:\n%s", synSlowWait, w.pendingReportLocked()))
			}
		} else if time.Now().After(limit) {
			w.stalled = fmt.Sprintf("%d messages in flight for %v (limit %d):\n%s",
				w.pending, w.sz.deadline, w.sz.maxInFlight, w.pendingReportLocked())
			return false
		}
		w.mu.Unlock()
		time.Sleep(500 * time.Microsecond)
		w.mu.Lock()
	}
	if !start.IsZero() {
		w.st.maxWait = max(w.st.maxWait, time.Since(start))
	}
	return true
}

// synSlowWait is how long a wait for in-flight messages may take before the
// report notes what was pending.
const synSlowWait = 3 * time.Second

func (w *synWorkload) connect() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.live) >= w.sz.maxConns {
		return
	}
	ci, si := w.rng.IntN(len(w.clients)), w.rng.IntN(len(w.servers))
	gc, err := w.clients[ci].ConnectTo(gomsgr.EntityOSD, w.srvAddrs[si])
	if err != nil {
		w.errorf("client %d: ConnectTo server %d: %v", ci, si, err)
		return
	}
	c := gc.(*conn.Connection)
	if sc := w.conns[c]; sc != nil {
		if sc.down {
			// A mark-down or a close unregisters the connection first:
			// ConnectTo must not give it back.
			w.errorf("client %d: ConnectTo server %d returned connection #%d, marked down or reset before (state %s, err %v)",
				ci, si, sc.id, c.State(), c.Err())
		}
		return
	}
	w.nextID++
	sc := &synConn{id: w.nextID, c: c, cli: ci, srv: si, live: len(w.live)}
	w.conns[c] = sc
	w.all = append(w.all, sc)
	w.live = append(w.live, sc)
	w.st.newConns++
	w.log.Debug("syn: new connection", "conn", sc.id, "client", w.clients[ci].Name().String(), "server", w.srvAddrs[si].String(),
		"ptr", fmt.Sprintf("%p", c))
}

func (w *synWorkload) removeLiveLocked(sc *synConn) {
	if sc.live < 0 {
		return
	}
	last := w.live[len(w.live)-1]
	w.live[sc.live] = last
	last.live = sc.live
	w.live = w.live[:len(w.live)-1]
	sc.live = -1
}

// forgiveLocked drops the connection's in-flight messages from the check:
// a mark-down or a session reset may legitimately lose them.
func (w *synWorkload) forgiveLocked(sc *synConn, why string) {
	n := len(sc.pend[0]) + len(sc.pend[1])
	w.pending -= n
	w.st.forgiven += n
	sc.forgiven = sc.seq
	sc.pend[0], sc.pend[1] = nil, nil
	w.log.Debug("syn: forgive", "conn", sc.id, "why", why, "messages", n, "through_seq", sc.seq)
}

func (w *synWorkload) send() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waitInFlightLocked() || len(w.live) == 0 {
		return
	}
	sc := w.live[w.rng.IntN(len(w.live))]
	idx := w.rng.IntN(len(w.payloads))
	class := 0
	m := &gomsgr.Message{Type: synPing, Front: binary.LittleEndian.AppendUint64(nil, uint64(sc.id)), Data: w.payloads[idx]}
	if w.rng.IntN(100) < 5 {
		class, m.Priority = 1, gomsgr.PrioHighest
		w.st.interlopers++
	}
	if w.v.congestion && len(m.Data) >= 64<<10 {
		// Ceph's send_large_message: congestion once the connection is up.
		cli := w.clients[sc.cli]
		if w.st.congested < 1600 && sc.c.IsConnected() {
			cli.SetInject(testhooks.Inject{Congestion: 100})
			w.st.congested++
		} else {
			cli.SetInject(testhooks.Inject{})
		}
	}
	sc.seq++
	m.Tid = synTid(sc.seq, class, idx)
	sc.pend[class] = append(sc.pend[class], synPend{seq: sc.seq, idx: idx, sent: time.Now()})
	w.pending++
	if err := sc.c.SendMessage(m); err != nil {
		// Refused (closed by a reset whose event is not dispatched yet):
		// never in flight.
		sc.pend[class] = sc.pend[class][:len(sc.pend[class])-1]
		w.pending--
		w.st.sendRefused++
		return
	}
	sc.sent++
	w.st.sent++
}

func (w *synWorkload) drop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.live) <= w.sz.minLive || !w.waitInFlightLocked() || len(w.live) <= w.sz.minLive {
		return
	}
	sc := w.live[w.rng.IntN(len(w.live))]
	w.forgiveLocked(sc, "mark down")
	sc.down = true
	w.removeLiveLocked(sc)
	sc.c.MarkDown()
	if w.v.peerPolicies() {
		// Lossless peers: mark the server's end down too.
		w.servers[sc.srv].MarkDown(w.clients[sc.cli].Addrs()[0])
	}
}

// pong checks one PONG a client received.
func (w *synWorkload) pong(cli int, m *gomsgr.Message) {
	seq, class, idx := synUntid(m.Tid)
	c, _ := m.Conn.(*conn.Connection)
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := w.conns[c]
	if c == nil {
		w.errorf("client %d: PONG seq %d on connection %T", cli, seq, m.Conn)
		return
	}
	if sc == nil {
		// A PONG on a connection the client never opened (in the peer
		// variant, one the server dialled): its messages cannot be ours.
		w.st.stray++
		w.log.Debug("syn: stray pong", "client", cli, "seq", seq, "peer", c.PeerAddr().String())
		return
	}
	if len(m.Front) == 9 {
		if from := int(binary.LittleEndian.Uint64(m.Front)); from != sc.id {
			// The reply to a message sent on another (older) connection
			// came on this one: the server's connection carried the old
			// session's traffic into the new session.
			w.log.Debug("syn: cross-session pong", "conn", sc.id, "from_conn", from, "seq", seq, "stale", m.Front[8])
			if m.Front[8] == 0 {
				// The server dispatched it before it learnt of the reset
				// (a race Ceph has too): tolerated, counted.
				w.st.crossRacy++
				return
			}
			other := "?"
			if from > 0 && from <= len(w.all) {
				o := w.all[from-1]
				other = fmt.Sprintf("client %d -> server %d, marked down or reset: %v, forgiven through seq %d", o.cli, o.srv, o.down, o.forgiven)
			}
			w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d belongs to conn #%d (%s): the server dispatched "+
				"its PING after the old session was reset and replaced by this one, and the reply went out on the new session "+
				"(Ceph's reset_session discards the reset session's undispatched messages)",
				sc.id, sc.cli, sc.srv, w.driver, seq, class, from, other)
			return
		}
	}
	if sc.down || seq <= sc.forgiven {
		w.st.late++
		return
	}
	q := sc.pend[class]
	k := slices.IndexFunc(q, func(p synPend) bool { return p.seq == seq })
	switch {
	case k < 0:
		w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d is not awaited (duplicate or unknown; awaiting %v)",
			sc.id, sc.cli, sc.srv, w.driver, seq, class, synSeqs(q, 8))
		return
	case k > 0:
		w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d arrived before %d earlier ones %v",
			sc.id, sc.cli, sc.srv, w.driver, seq, class, k, synSeqs(q[:k], 8))
	}
	p := q[k]
	want := w.payloads[p.idx]
	switch {
	case p.idx != idx:
		w.errorf("conn #%d: PONG seq %d carries payload index %d, sent %d", sc.id, seq, idx, p.idx)
	case len(m.Front) != 9 || len(m.Middle) != 0:
		w.errorf("conn #%d: PONG seq %d has front %d B, middle %d B; want 9 and 0", sc.id, seq, len(m.Front), len(m.Middle))
	case !bytes.Equal(m.Data, want):
		at := 0
		for at < min(len(m.Data), len(want)) && m.Data[at] == want[at] {
			at++
		}
		w.errorf("conn #%d: PONG seq %d payload %d differs: %d B, want %d B, first difference at byte %d",
			sc.id, seq, idx, len(m.Data), len(want), at)
	case (class == 1) != (m.Priority == gomsgr.PrioHighest):
		w.errorf("conn #%d: PONG seq %d class %d came with priority %d", sc.id, seq, class, m.Priority)
	}
	sc.pend[class] = q[k+1:]
	w.pending -= k + 1
	sc.ponged++
	w.st.pongs++
	w.st.pongBytes += int64(len(m.Data))
}

func synSeqs(q []synPend, n int) []uint64 {
	var s []uint64
	for i, p := range q {
		if i == n {
			break
		}
		s = append(s, p.seq)
	}
	return s
}

// pendingReportLocked lists the connections with messages awaiting a PONG:
// the client's view of the connection and the server's connections.
func (w *synWorkload) pendingReportLocked() string {
	var b strings.Builder
	now := time.Now()
	shown := 0
	for _, sc := range w.all {
		n := len(sc.pend[0]) + len(sc.pend[1])
		if n == 0 {
			continue
		}
		if shown++; shown > 12 {
			fmt.Fprintf(&b, "  ... more connections\n")
			break
		}
		oldest := now
		for _, q := range sc.pend {
			if len(q) > 0 && q[0].sent.Before(oldest) {
				oldest = q[0].sent
			}
		}
		fmt.Fprintf(&b, "  conn #%d (%p) %s -> %s (server %d): %d pending, oldest %v ago; sent %d, ponged %d; "+
			"state=%s connected=%v out_queue=%d unacked=%d err=%v; seqs default=%v highest=%v\n",
			sc.id, sc.c, w.clients[sc.cli].Name(), w.srvAddrs[sc.srv], sc.srv, n, now.Sub(oldest).Round(time.Millisecond),
			sc.sent, sc.ponged, sc.c.State(), sc.c.IsConnected(), sc.c.QueueLen(), sc.c.Unacked(), sc.c.Err(),
			synSeqs(sc.pend[0], 10), synSeqs(sc.pend[1], 10))
		cliName := w.clients[sc.cli].Name().String()
		cd, sd := w.clients[sc.cli].Dump(), w.servers[sc.srv].Dump()
		fmt.Fprintf(&b, "    client %s nonce %d dispatch_queue=%d dispatch_throttle=%d/%d; server dispatch_queue=%d dispatch_throttle=%d/%d\n",
			cliName, cd.Nonce, cd.DispatchQueue, dthrCur(w.clients[sc.cli]), dthrMax(w.clients[sc.cli]),
			sd.DispatchQueue, dthrCur(w.servers[sc.srv]), dthrMax(w.servers[sc.srv]))
		for _, cd := range w.servers[sc.srv].Dump().Connections {
			if cd.PeerName == cliName || cd.PeerName == "" || cd.Registry != "conns" {
				fmt.Fprintf(&b, "    server side: peer=%s name=%s role=%s state=%s out_queue=%d unacked=%d registry=%s\n",
					cd.Peer, cd.PeerName, cd.Role, cd.State, cd.OutQueue, cd.Unacked, cd.Registry)
			}
		}
		for i, l := range synSockets(w.srvAddrs[sc.srv].Addr.Port()) {
			if i == 24 {
				fmt.Fprintf(&b, "    socket: ... more\n")
				break
			}
			fmt.Fprintf(&b, "    socket: %s\n", l)
		}
		for _, l := range w.ring.grep(50, "msgr="+cliName+" ", w.srvAddrs[sc.srv].String(), fmt.Sprintf("conn=%d ", sc.id)) {
			fmt.Fprintf(&b, "    log: %s", l)
		}
	}
	return b.String()
}

// synClient is a client messenger's dispatcher: it checks PONGs and
// forgives on session resets.
type synClient struct {
	w   *synWorkload
	idx int
}

func (d *synClient) Dispatch(m *gomsgr.Message) bool {
	defer m.Release()
	if m.Type != synPong {
		d.w.mu.Lock()
		d.w.errorf("client %d: message of type %v (want PONG)", d.idx, m.Type)
		d.w.mu.Unlock()
		return true
	}
	d.w.pong(d.idx, m)
	return true
}

func (d *synClient) event(c gomsgr.Connection, what string, count *int, forgive bool) {
	w := d.w
	w.mu.Lock()
	defer w.mu.Unlock()
	*count++
	cc, _ := c.(*conn.Connection)
	sc := w.conns[cc]
	if sc == nil {
		return
	}
	w.log.Debug("syn: event", "conn", sc.id, "event", what, "down", sc.down)
	if what == "reset" && sc.down && sc.live < 0 {
		// MarkDown delivers no reset event (as in Ceph); a fault racing
		// the mark-down's close does.
		w.st.resetAfterDown++
	}
	if forgive {
		w.forgiveLocked(sc, what)
	}
	if what == "reset" && !sc.down {
		sc.down = true
		w.removeLiveLocked(sc)
	}
}

func (d *synClient) HandleConnect(c gomsgr.Connection) {
	d.event(c, "connect", &d.w.st.connectEv, false)
}
func (d *synClient) HandleAccept(c gomsgr.Connection) { d.event(c, "accept", &d.w.st.acceptEv, false) }
func (d *synClient) HandleReset(c gomsgr.Connection) bool {
	d.event(c, "reset", &d.w.st.resetEv, true)
	return true
}
func (d *synClient) HandleRemoteReset(c gomsgr.Connection) {
	d.event(c, "remote reset", &d.w.st.remoteResetEv, true)
}
func (d *synClient) HandleRefused(c gomsgr.Connection) bool {
	d.event(c, "refused", &d.w.st.refusedEv, false)
	return false
}

// synServer echoes every PING back on its connection: same payload
// buffers (released with the reply), type PONG, same Tid and priority.
type synServer struct {
	w     *synWorkload
	idx   int
	conns map[*conn.Connection]*synSrvConn // dispatch goroutine only
}

// synSrvConn is what a server saw on one of its connections: the newest
// client connection (#id in the PING's front; ids grow, and a client's new
// connection to a server has a higher id than its old ones) and, at its
// last remote reset, the newest id seen so far.
type synSrvConn struct {
	id         int
	newest     int
	staleBelow int // PINGs of ids <= staleBelow belong to a reset session
	resets     int
}

func (d *synServer) Dispatch(m *gomsgr.Message) bool {
	if m.Type != synPing {
		d.w.mu.Lock()
		d.w.errorf("server %d: message of type %v (want PING)", d.idx, m.Type)
		d.w.mu.Unlock()
		m.Release()
		return true
	}
	// The reply's front: the client connection's id, and whether this PING
	// was dispatched although its session had been reset before.
	front := make([]byte, 9)
	if len(m.Front) == 8 {
		copy(front, m.Front)
		if d.track(m) {
			front[8] = 1
		}
	}
	r := &gomsgr.Message{Type: synPong, Priority: m.Priority, Tid: m.Tid, Front: front, Middle: m.Middle, Data: m.Data}
	r.SetReleaser(func(_ *gomsgr.Message, req any) { req.(*gomsgr.Message).Release() }, m)
	if err := m.Conn.SendMessage(r); err != nil {
		m.Release()
		d.w.mu.Lock()
		d.w.st.echoErr++
		d.w.mu.Unlock()
	}
	return true
}

func (d *synServer) conn(c gomsgr.Connection) *synSrvConn {
	cc, _ := c.(*conn.Connection)
	if d.conns == nil {
		d.conns = map[*conn.Connection]*synSrvConn{}
	}
	sc := d.conns[cc]
	if sc == nil {
		d.w.mu.Lock()
		d.w.nextSrvID++
		sc = &synSrvConn{id: d.w.nextSrvID}
		d.w.mu.Unlock()
		d.conns[cc] = sc
	}
	return sc
}

// track reports whether the PING belongs to a session that was reset
// before it was dispatched: a PING of a client connection at or below the
// newest one seen when the server connection's session was last reset
// (Ceph discards a reset session's undispatched messages), or older than
// one already dispatched on this server connection.
func (d *synServer) track(m *gomsgr.Message) bool {
	id := int(binary.LittleEndian.Uint64(m.Front))
	sc := d.conn(m.Conn)
	stale := id <= sc.staleBelow || id < sc.newest
	if id > sc.newest {
		if sc.newest != 0 {
			d.w.log.Debug("syn: server connection carries a new client connection", "server", d.idx, "srvconn", sc.id,
				"from_conn", sc.newest, "to_conn", id, "resets", sc.resets)
		}
		sc.newest = id
	}
	if stale {
		seq, _, _ := synUntid(m.Tid)
		d.w.mu.Lock()
		d.w.st.srvStale++
		d.w.mu.Unlock()
		d.w.log.Debug("syn: server dispatches a PING of a reset session", "server", d.idx, "srvconn", sc.id,
			"conn", id, "seq", seq, "newest_conn", sc.newest, "stale_below", sc.staleBelow, "resets", sc.resets)
	}
	return stale
}

func (d *synServer) count(p *int) {
	d.w.mu.Lock()
	*p++
	d.w.mu.Unlock()
}

func (d *synServer) HandleConnect(gomsgr.Connection) {}
func (d *synServer) HandleAccept(gomsgr.Connection)  {}
func (d *synServer) HandleReset(gomsgr.Connection) bool {
	d.count(&d.w.st.srvResetEv)
	return true
}
func (d *synServer) HandleRemoteReset(c gomsgr.Connection) {
	sc := d.conn(c)
	sc.resets++
	sc.staleBelow = sc.newest
	d.w.log.Debug("syn: server remote reset", "server", d.idx, "srvconn", sc.id, "newest_conn", sc.newest)
	d.count(&d.w.st.srvRemoteResetEv)
}
func (d *synServer) HandleRefused(gomsgr.Connection) bool { return false }

// synSockets lists this process's TCP sockets to or from port (from
// /proc/net/tcp): local and remote port, state, send and receive queue
// bytes, and the fd holding each (none: not open in this process).
func synSockets(port uint16) []string {
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return []string{err.Error()}
	}
	fds := map[string]string{}
	polled := map[string][]string{} // fd -> "epoll fd: events"
	for fd, target := range leakcheck.OpenFds(nopTB{}) {
		if strings.HasPrefix(target, "socket:[") {
			fds[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = strconv.Itoa(fd)
		}
		if target == "anon_inode:[eventpoll]" {
			info, _ := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
			for _, l := range strings.Split(string(info), "\n") {
				// tfd:       42 events:       19 data: ...
				if f := strings.Fields(l); len(f) >= 4 && f[0] == "tfd:" && f[2] == "events:" {
					polled[f[1]] = append(polled[f[1]], fmt.Sprintf("epoll%d:%s", fd, f[3]))
				}
			}
		}
	}
	states := map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
		"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	var out []string
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		lp, rp := synHexPort(f[1]), synHexPort(f[2])
		if lp != port && rp != port || f[3] == "06" || f[3] == "0A" {
			continue
		}
		tx, rx, _ := strings.Cut(f[4], ":")
		txn, _ := strconv.ParseUint(tx, 16, 64)
		rxn, _ := strconv.ParseUint(rx, 16, 64)
		fd := fds[f[9]]
		if fd == "" {
			fd = "none"
		}
		out = append(out, fmt.Sprintf("%d->%d %s sendq=%d recvq=%d fd=%s polled=%v", lp, rp, states[f[3]], txn, rxn, fd, polled[fd]))
	}
	slices.Sort(out)
	return out
}

// synLeakedSockets describes the sockets open now that were not in before
// (after a shutdown: leaked), with their ports and TCP state.
func synLeakedSockets(before map[int]string) []string {
	var out []string
	for attempt := 0; attempt < 20; attempt++ { // closes may still be in flight
		out = out[:0]
		tcp := synTCPByInode()
		for fd, target := range leakcheck.OpenFds(nopTB{}) {
			if before[fd] == target || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			ino := strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
			out = append(out, fmt.Sprintf("fd %d: %s", fd, tcp[ino]))
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(out)
	return out
}

// synTCPByInode maps socket inodes to "local->remote STATE" from
// /proc/net/tcp.
func synTCPByInode() map[string]string {
	m := map[string]string{}
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		m[f[9]] = fmt.Sprintf("port %d -> port %d state %s", synHexPort(f[1]), synHexPort(f[2]), f[3])
	}
	return m
}

func synHexPort(a string) uint16 {
	_, ps, _ := strings.Cut(a, ":")
	n, _ := strconv.ParseUint(ps, 16, 16)
	return uint16(n)
}

func (w *synWorkload) clientAddrs() []string {
	var out []string
	for _, c := range w.clients {
		if a := c.Addrs(); len(a) > 0 {
			out = append(out, a[0].String())
		}
	}
	return out
}

// nopTB lets leakcheck.OpenFds run outside a test's goroutine.
type nopTB struct{ testing.TB }

func (nopTB) Helper()               {}
func (nopTB) Fatalf(string, ...any) {}

// synRing keeps the last lines of the debug log (one slog record per
// Write) for the failure report.
type synRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newSynRing(n int) *synRing { return &synRing{lines: make([]string, n)} }

func (r *synRing) Write(p []byte) (int, error) {
	s := string(p)
	r.mu.Lock()
	r.lines[r.next] = s
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
	return len(p), nil
}

func (r *synRing) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.lines[:r.next])
	}
	return append(slices.Clone(r.lines[r.next:]), r.lines[:r.next]...)
}

// grep returns the last n lines that contain all of the first two
// substrings, or the third.
func (r *synRing) grep(n int, who, peer, alt string) []string {
	var out []string
	for _, l := range r.snapshot() {
		if (strings.Contains(l, who) && strings.Contains(l, peer)) || strings.Contains(l, alt) {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (r *synRing) dumpFile(name string) (string, error) {
	f, err := os.CreateTemp("", "synthetic-"+name+"-*.log")
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, l := range r.snapshot() {
		f.WriteString(l)
	}
	return f.Name(), nil
}
