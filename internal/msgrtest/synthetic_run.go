package msgrtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/testhooks"
)

func runSynthetic(t *testing.T, newMsgr Factory, v synVariant, label string, sz synSize) {
	// The runtime's poller opens its fds once, on first use (a pipe uses
	// it): before leakcheck's snapshot, not during the test.
	if r, w, err := os.Pipe(); err == nil {
		_, _ = r.Close(), w.Close() // only the poller's fds matter
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
	w := &synWorkload{t: t, v: v, sz: sz, label: label, newMsgr: newMsgr, seed: seed,
		rng: rand.New(rand.NewPCG(seed, 0x5e7)), conns: map[gomsgr.Connection]*synConn{}}
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
	t.Logf("synthetic: variant=%s impl=%s servers=%d clients=%d ops=%d(connect=%d send=%d drop=%d sleep=%d) "+
		"conns=%d sent=%d interlopers=%d congested=%d send_refused=%d pongs=%d pong_MiB=%.1f forgiven=%d late=%d stray=%d "+
		"faults=%d reconnects=%d standbys=%d requeued=%d replayed=%d duplicates=%d skipped=%d replacements=%d remote_resets=%d "+
		"inj_socket=%d inj_congestion=%d inj_delays=%d inj_recv_delays=%d "+
		"ev_reset=%d ev_remote_reset=%d ev_connect=%d ev_accept=%d ev_refused=%d srv_ev_reset=%d srv_ev_remote_reset=%d srv_stale_pings=%d cross_session_racy=%d ev_reset_after_markdown=%d echo_errors=%d slow_waits=%d max_wait=%v "+
		"lost=%d errors=%d wall=%v (ops %v, drain %v) seed=%d",
		v.name, label, sz.servers, sz.clients, sz.ops, st.connects, st.sends, st.drops, st.sleeps,
		st.newConns, st.sent, st.interlopers, st.congested, st.sendRefused, st.pongs, float64(st.pongBytes)/(1<<20),
		st.forgiven, st.late, st.stray,
		ss.Faults, ss.Reconnects, ss.Standbys, ss.Requeued, ss.Replayed, ss.Duplicates, ss.Skipped, ss.Replacements, ss.RemoteResets,
		ss.InjectedSocketFailures, ss.InjectedCongestion, ss.InjectedDelays, ss.InjectedRecvDelays,
		st.resetEv, st.remoteResetEv, st.connectEv, st.acceptEv, st.refusedEv, st.srvResetEv, st.srvRemoteResetEv, st.srvStale, st.crossRacy, st.resetAfterDown, st.echoErr, st.slowWaits, st.maxWait.Round(time.Millisecond),
		lost, nerrs, wall.Round(time.Millisecond), opsDone.Sub(start).Round(time.Millisecond),
		drained.Sub(opsDone).Round(time.Millisecond), seed)

	for _, r := range slow {
		t.Logf("synthetic: %s/%s slow: %s", v.name, label, r)
	}
	leaked := synLeakedSockets(fdsBefore)
	if len(leaked) > 0 {
		// leakcheck fails the test; this says which connection it was.
		t.Logf("synthetic: sockets left open after shutdown: %v (servers %v, clients %v)", leaked, w.srvAddrs, w.clientAddrs())
	}
	failed := lost > 0 || nerrs > 0 || stalled != "" || len(leaked) > 0
	if failed || os.Getenv("GOMSGR_SYNTHETIC_LOG") != "" {
		if path, err := w.ring.dumpFile(v.name + "-" + label); err == nil {
			t.Logf("synthetic: debug log of %s/%s: %s", v.name, label, path)
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
	_, _ = rand.NewChaCha8(key).Read(pool) // never fails
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

func (w *synWorkload) config(name gomsgr.EntityName, workers int, inj testhooks.Inject, base *slog.Logger) Config {
	var ac *auth.Config
	if w.v.secure {
		ac = secureAuth(w.t)
	}
	return Config{
		Auth:                  ac,
		Name:                  name,
		Workers:               workers,
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
		m := w.newSynMsgr(w.config(gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: int64(i)}, 2, w.v.srvInj, base))
		w.servers = append(w.servers, m) // shut down even if the test stops here
		if err := errors.Join(m.SetDefaultPolicy(w.v.srvPol), m.AddDispatcher(&synServer{w: w, idx: i})); err != nil {
			t.Fatal(err)
		}
		if err := m.Bind(context.Background(), lo); err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		w.srvAddrs = append(w.srvAddrs, m.Addrs()[0])
	}
	for i := 0; i < w.sz.clients; i++ {
		m := w.newSynMsgr(w.config(gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(100 + i)}, 1+i%2, w.v.cliInj, base))
		w.clients = append(w.clients, m)
		if err := errors.Join(m.SetDefaultPolicy(w.v.cliPol), m.AddDispatcher(&synClient{w: w, idx: i})); err != nil {
			t.Fatal(err)
		}
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
