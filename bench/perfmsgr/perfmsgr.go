// Package perfmsgr is the messenger workload behind gomsgr-perf's server,
// client and local modes (Ceph's ceph_perf_msgr_server and
// ceph_perf_msgr_client): jobs client messengers, each with one connection
// keeping concurrency messages of a given size in flight against a server
// that answers each with a message of the same size, optionally after a
// think time. Latency is each request's round trip, recorded in an
// HdrHistogram.
package perfmsgr

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/conn"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring", one of Impls
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/simple"
)

// MsgPerf is the message type of the workload.
const MsgPerf = 0x7e01

// Impls lists the messenger implementations: the event loop on epoll and on
// io_uring, and the goroutine-per-connection messenger.
var Impls = []string{"epoll", "uring", "simple"}

// Config selects an implementation and its tuning.
type Config struct {
	// Impl is "epoll", "uring" or "simple".
	Impl string
	// Workers is the event-loop workers per messenger (conn only).
	Workers int
	// Wait and Spin tune the event loop (conn only); IO selects
	// readiness or completion mode (completion needs Impl "uring").
	Wait center.WaitMode
	IO   center.IOMode
	Spin time.Duration
	// Lossless selects the lossless policies (lossless_client /
	// stateful_server) instead of lossy_client / stateless_server.
	Lossless bool
	// Mode is the sessions' security: "" or "none" (auth none, crc mode),
	// "crc" (cephx, crc mode) or "secure" (cephx, AES-GCM secure mode).
	// Both ends use BenchKey.
	Mode string
}

// BenchKey is the cephx key of the workload's client.bench entity. It is a
// fixed, public benchmark key, so that a server and a client started
// separately agree on it; never use it to protect anything.
const BenchKey = "AQBlamRlAAAAABAAYmVuY2gta2V5LWdvbXNncg=="

// Auth returns the authentication Mode selects (nil for none).
func (c Config) Auth() (*auth.Config, error) {
	var modes []msgr2.ConMode
	switch c.Mode {
	case "", "none":
		return nil, nil
	case "crc":
		modes = []msgr2.ConMode{auth.CRC}
	case "secure":
		modes = []msgr2.ConMode{auth.Secure}
	default:
		return nil, fmt.Errorf("perfmsgr: unknown mode %q (want none, crc or secure)", c.Mode)
	}
	k, err := cephx.ParseKey(BenchKey)
	if err != nil {
		return nil, err
	}
	return &auth.Config{Name: "client.bench", Key: &k, Keyring: cephx.Keyring{"client.bench": {Key: k}},
		ClientModes: modes, ServiceModes: modes}, nil
}

// New creates an unstarted messenger for name.
func New(cfg Config, name gomsgr.EntityName) (gomsgr.Messenger, error) {
	ac, err := cfg.Auth()
	if err != nil {
		return nil, err
	}
	switch cfg.Impl {
	case "epoll", "uring":
		return conn.NewMessenger(conn.Options{Name: name, Workers: cfg.Workers, Auth: ac,
			Center: center.Config{Driver: cfg.Impl, Wait: cfg.Wait, Spin: cfg.Spin, IO: cfg.IO}})
	case "simple":
		return simple.NewMessenger(simple.Options{Name: name, Auth: ac})
	}
	return nil, fmt.Errorf("perfmsgr: unknown implementation %q (want epoll, uring or simple)", cfg.Impl)
}

func (c Config) serverPolicy() gomsgr.Policy {
	if c.Lossless {
		return gomsgr.StatefulServer(0)
	}
	return gomsgr.StatelessServer(0)
}

func (c Config) clientPolicy() gomsgr.Policy {
	if c.Lossless {
		return gomsgr.LosslessClient(0)
	}
	return gomsgr.LossyClient(0)
}

// echo answers every request with a message of the same size: inline on the
// worker (fast dispatch) without think time, from the dispatch goroutine
// after sleeping think otherwise.
type echo struct {
	think   time.Duration
	payload []byte
}

func (e *echo) CanFastDispatch(*gomsgr.Message) bool { return e.think == 0 }
func (e *echo) FastDispatch(m *gomsgr.Message)       { e.reply(m) }
func (e *echo) Dispatch(m *gomsgr.Message) bool {
	time.Sleep(e.think)
	e.reply(m)
	return true
}

func (e *echo) reply(m *gomsgr.Message) {
	r := gomsgr.GetMessage()
	r.Type, r.Tid = m.Type, m.Tid
	if n := len(m.Data); n <= len(e.payload) {
		r.Data = e.payload[:n]
	} else {
		r.Data = make([]byte, n)
	}
	r.SetReleaser(gomsgr.ReleaseToPool, nil)
	c := m.Conn
	m.Release()
	// It fails only on a connection marked down or a messenger shutting
	// down: the client then counts the reply as missing.
	_ = c.SendMessage(r)
}

// Server is a running perf server.
type Server struct {
	m gomsgr.Messenger
}

// StartServer binds addr and serves the workload until Shutdown. On failure
// nothing is left running.
func StartServer(cfg Config, addr netip.AddrPort, think time.Duration) (_ *Server, err error) {
	m, err := New(cfg, gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.Shutdown(context.Background()))
		}
	}()
	if err := configure(m, cfg.serverPolicy(), &echo{think: think, payload: make([]byte, 4<<20)}); err != nil {
		return nil, err
	}
	if err := m.Bind(context.Background(), addr); err != nil {
		return nil, err
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	return &Server{m: m}, nil
}

// configure sets m's default policy and adds d.
func configure(m gomsgr.Messenger, pol gomsgr.Policy, d gomsgr.Dispatcher) error {
	if err := m.SetDefaultPolicy(pol); err != nil {
		return fmt.Errorf("perfmsgr: set default policy: %w", err)
	}
	if err := m.AddDispatcher(d); err != nil {
		return fmt.Errorf("perfmsgr: add dispatcher: %w", err)
	}
	return nil
}

// Addr returns the server's address.
func (s *Server) Addr() gomsgr.EntityAddr { return s.m.Addrs()[0] }

// Messenger returns the server's messenger (for counters and dumps).
func (s *Server) Messenger() gomsgr.Messenger { return s.m }

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.m.Shutdown(ctx) }

// Load describes the client side of a run.
type Load struct {
	Jobs        int           // client messengers, one connection each
	Concurrency int           // messages in flight per job
	Size        int           // data bytes per message
	Ops         int64         // total requests; 0 means run for Duration
	Duration    time.Duration // used when Ops is 0
	Think       time.Duration // client pause before sending the next request
}

// Result is a run's figures.
type Result struct {
	Impl        string        `json:"impl"`
	Jobs        int           `json:"jobs"`
	Concurrency int           `json:"concurrency"`
	Size        int           `json:"size_bytes"`
	Ops         int64         `json:"ops"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	OpsPerS     float64       `json:"ops_per_s"`
	MBPerS      float64       `json:"mb_per_s"`
	P50         time.Duration `json:"p50_ns"`
	P90         time.Duration `json:"p90_ns"`
	P99         time.Duration `json:"p99_ns"`
	P999        time.Duration `json:"p999_ns"`
	Max         time.Duration `json:"max_ns"`
}

// client is one job: a messenger and its in-flight requests.
type client struct {
	m    gomsgr.Messenger
	c    gomsgr.Connection
	sent []int64 // send stamp per slot (tid % concurrency)
	mu   sync.Mutex
	hist *hdrhistogram.Histogram // guarded by mu
	err  error                   // guarded by mu: the first latency hist could not record
	data []byte
	load *Load
	run  *run
}

type run struct {
	toSend, done atomic.Int64
	target       int64 // Ops, or 0 when running for a duration
	stop         atomic.Bool
	finished     chan struct{} // closed when target replies arrived or sending failed
	once         sync.Once
	start        time.Time
}

func (cl *client) send(slot uint64) {
	r := cl.run
	if r.stop.Load() || r.toSend.Add(-1) < 0 {
		return
	}
	m := gomsgr.GetMessage()
	m.Type, m.Tid, m.Data = MsgPerf, slot, cl.data
	m.SetReleaser(gomsgr.ReleaseToPool, nil)
	cl.sent[slot] = int64(time.Since(r.start))
	if err := cl.c.SendMessage(m); err != nil {
		r.finish()
	}
}

func (r *run) finish() { r.once.Do(func() { close(r.finished) }) }

func (cl *client) FastDispatch(m *gomsgr.Message) {
	slot := m.Tid
	m.Release()
	if slot >= uint64(len(cl.sent)) {
		return
	}
	lat := int64(time.Since(cl.run.start)) - cl.sent[slot]
	cl.mu.Lock()
	if err := cl.hist.RecordValue(lat); err != nil && cl.err == nil {
		cl.err = fmt.Errorf("perfmsgr: latency %v: %w", time.Duration(lat), err)
	}
	cl.mu.Unlock()
	if n := cl.run.done.Add(1); n == cl.run.target {
		cl.run.finish()
	}
	if cl.load.Think > 0 {
		time.AfterFunc(cl.load.Think, func() { cl.send(slot) })
		return
	}
	cl.send(slot)
}
func (cl *client) CanFastDispatch(*gomsgr.Message) bool { return true }
func (cl *client) Dispatch(m *gomsgr.Message) bool      { cl.FastDispatch(m); return true }

// Run drives load against addr with cfg's implementation and returns the
// figures. progress, if not nil, is called about every 100ms with the
// requests completed so far.
func Run(ctx context.Context, cfg Config, addr gomsgr.EntityAddr, load Load, progress func(done int64)) (_ Result, err error) {
	if load.Jobs <= 0 || load.Concurrency <= 0 {
		return Result{}, errors.New("perfmsgr: jobs and concurrency must be positive")
	}
	if load.Ops <= 0 && load.Duration <= 0 {
		return Result{}, errors.New("perfmsgr: give ops or a duration")
	}
	r := &run{finished: make(chan struct{}), target: load.Ops}
	if load.Ops > 0 {
		r.toSend.Store(load.Ops)
	} else {
		r.toSend.Store(1 << 62)
	}
	data := make([]byte, load.Size)
	var clients []*client
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, cl := range clients {
			err = errors.Join(err, cl.m.Shutdown(sctx))
		}
	}()
	for j := 0; j < load.Jobs; j++ {
		m, err := New(cfg, gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(1000 + j)})
		if err != nil {
			return Result{}, err
		}
		cl := &client{m: m, sent: make([]int64, load.Concurrency), data: data, load: &load, run: r,
			hist: hdrhistogram.New(1, int64(time.Minute), 3)}
		clients = append(clients, cl) // shut down on return, started or not
		if err := configure(m, cfg.clientPolicy(), cl); err != nil {
			return Result{}, err
		}
		if err := m.Start(); err != nil {
			return Result{}, err
		}
		c, err := m.ConnectTo(gomsgr.EntityOSD, addr)
		if err != nil {
			return Result{}, err
		}
		cl.c = c
	}
	// Handshakes first, so that they are not timed.
	for _, cl := range clients {
		for !cl.c.IsConnected() {
			if err := cl.c.SendKeepalive(); err != nil {
				return Result{}, fmt.Errorf("perfmsgr: handshake: %w", err)
			}
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	r.start = time.Now()
	for _, cl := range clients {
		for s := 0; s < load.Concurrency; s++ {
			cl.send(uint64(s))
		}
	}
	var deadline <-chan time.Time
	if load.Ops <= 0 {
		deadline = time.After(load.Duration)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-r.finished:
			break wait
		case <-deadline:
			break wait
		case <-tick.C:
			if progress != nil {
				progress(r.done.Load())
			}
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	elapsed := time.Since(r.start)
	r.stop.Store(true)
	total := hdrhistogram.New(1, int64(time.Minute), 3)
	for _, cl := range clients {
		cl.mu.Lock()
		total.Merge(cl.hist)
		err := cl.err
		cl.mu.Unlock()
		if err != nil {
			return Result{}, err
		}
	}
	n := total.TotalCount()
	res := Result{Impl: cfg.Impl, Jobs: load.Jobs, Concurrency: load.Concurrency, Size: load.Size,
		Ops: n, Elapsed: elapsed, OpsPerS: float64(n) / elapsed.Seconds(),
		MBPerS: float64(n) * float64(load.Size) / elapsed.Seconds() / 1e6,
		P50:    time.Duration(total.ValueAtQuantile(50)), P90: time.Duration(total.ValueAtQuantile(90)),
		P99: time.Duration(total.ValueAtQuantile(99)), P999: time.Duration(total.ValueAtQuantile(99.9)),
		Max: time.Duration(total.Max())}
	if progress != nil {
		progress(r.done.Load())
	}
	return res, nil
}

// String formats a result in one block.
func (r Result) String() string {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return fmt.Sprintf("%s: %d jobs x %d in flight, %d B: %d ops in %v: %.0f ops/s, %.1f MB/s; latency p50 %.1fµs p90 %.1fµs p99 %.1fµs p99.9 %.1fµs max %.1fµs",
		r.Impl, r.Jobs, r.Concurrency, r.Size, r.Ops, r.Elapsed.Round(time.Millisecond), r.OpsPerS, r.MBPerS,
		us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max))
}
