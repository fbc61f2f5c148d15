package msgrtest

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
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
// Run: go test -race -run Synthetic ./conn ./simple -v 2>&1 | grep -E 'synthetic:|FAIL|ok|panic'
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
	opsScale                      int  // GOMSGR_STRESS=1: ops times this (0: 1)
	secure                        bool // cephx and secure mode on every connection
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
	secV := injV
	secV.name, secV.secure = "InjectSecure", true
	return []synVariant{ssLc("StatefulServerLosslessClient"), peer, injV, delayV, cong, secV}
}

// RunSynthetic runs the synthetic workload's variants (all lossless but
// for their resets and mark-downs) against the messengers newMsgr creates.
// Their messengers must have SessionStats, SetInject,
// DispatchThrottleBytes and WriteDumpJSON methods and their connections
// State, Unacked and QueueLen methods (both of conn's and simple's do).
func RunSynthetic(t *testing.T, newMsgr Factory) {
	sz := synSizes()
	label := strings.ReplaceAll(t.Name(), "/", "-")
	for _, v := range synVariants() {
		t.Run(v.name, func(t *testing.T) { runSynthetic(t, newMsgr, v, label, sz) })
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
	c        synConnI
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
	label    string // the implementation, in logs and reports
	newMsgr  Factory
	seed     uint64
	rng      *rand.Rand // test goroutine only
	payloads [][]byte
	servers  []synMsgr
	clients  []synMsgr
	srvAddrs []gomsgr.EntityAddr
	ring     *synRing
	log      *slog.Logger

	mu        sync.Mutex
	conns     map[gomsgr.Connection]*synConn
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

// synMsgr is a messenger as the workload drives it (both of ours).
type synMsgr interface {
	gomsgr.Messenger
	SessionStats() gomsgr.SessionStats
	SetInject(testhooks.Inject)
	DispatchThrottleBytes() (cur, max int64)
	WriteDumpJSON(w io.Writer) error
}

// synConnI is a connection as the workload's reports describe it.
type synConnI interface {
	gomsgr.Connection
	State() string
	Unacked() int
	QueueLen() int
}

// newSynMsgr creates a messenger for the workload, failing the test if it
// lacks a method the workload uses.
func (w *synWorkload) newSynMsgr(cfg Config) synMsgr {
	m := w.newMsgr(w.t, cfg)
	sm, ok := m.(synMsgr)
	if !ok {
		w.t.Fatalf("%T lacks SessionStats, SetInject, DispatchThrottleBytes or WriteDumpJSON", m)
	}
	return sm
}
