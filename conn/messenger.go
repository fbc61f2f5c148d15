package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// Messenger is the event-loop messenger (Ceph's AsyncMessenger). Create it
// with NewMessenger; it implements gomsgr.Messenger.
//
// Lock order: Messenger.mu before Connection.mu.
type Messenger struct {
	opts       Options
	sampleMask uint32 // Options.SampleEvery - 1
	// batches gather each worker's message and byte counts during a loop
	// turn; OnBusy publishes them. Nil when counting is off or the stack
	// is not ours (then each handler run publishes its own).
	batches    []*perf.Batch
	runBatches map[int]*perf.Batch // per worker, published per handler run
	nonce      atomic.Uint32
	stack      *center.Stack
	ownsStack  bool
	proc       *Processor
	dq         *prioq.Dispatch[qitem] // Ceph's DispatchQueue
	gseq       session.GlobalSeq

	pols *msgrbase.PolicySet[*Throttle] // the policies and their throttles

	mu       sync.Mutex
	chain    msgrbase.Chain // the dispatchers; added under mu
	reg      msgrbase.Registry[*Connection]
	loop     *Connection
	addrs    gomsgr.AddrVec
	bindAddr netip.AddrPort
	started  bool
	stopping bool
	stopFlag atomic.Bool // stopping, readable without mu (fault path)
	done     chan struct{}

	perf     *perf.Set
	iovs     map[int]*[iovMax]unix.Iovec // one per worker: writev runs on the worker
	prefetch sync.Pool                   // *[]byte of PrefetchBytes
	faults   atomic.Uint64
	dthr     *Throttle             // ms_dispatch_throttle_bytes
	labels   map[int]*workerLabels // per worker, for fast dispatch
	sc       sessionCounters
	inject   atomic.Pointer[Inject]
}

var _ gomsgr.Messenger = (*Messenger)(nil)

// NewMessenger creates a messenger and, unless opts.Stack is given, its own
// stack of workers.
func NewMessenger(opts Options) (*Messenger, error) {
	opts = opts.withDefaults()
	m := &Messenger{
		opts:       opts,
		sampleMask: uint32(opts.SampleEvery - 1),
		reg:        msgrbase.NewRegistry[*Connection](),
		done:       make(chan struct{}),
	}
	m.SetInject(opts.Inject)
	m.nonce.Store(opts.Nonce)
	if m.nonce.Load() == 0 {
		m.nonce.Store(rand.Uint32() | 1)
	}
	m.perf = opts.Perf
	if m.perf == nil {
		m.perf = perf.NewSet(opts.Name.String())
	}
	m.dthr = newThrottle(m.perf, "msgr_dispatch_throttler-"+opts.Name.String(), opts.DispatchThrottleBytes)
	m.pols = msgrbase.NewPolicySet(func(name string, max int64) *Throttle { return newThrottle(m.perf, name, max) })
	m.stack = opts.Stack
	if m.stack == nil {
		ccfg := opts.Center
		if !opts.NoCounters && ccfg.OnBusy == nil {
			// msgr_running_total_time: the loop reports each busy turn;
			// the counts its handlers gathered are published then.
			busy := make([]*perf.Counters, opts.Workers)
			batches := make([]*perf.Batch, opts.Workers)
			for i := range busy {
				busy[i] = m.perf.Worker(i)
				batches[i] = busy[i].NewBatch()
			}
			m.batches = batches
			ccfg.OnBusy = func(id int, d time.Duration) {
				if id < len(busy) {
					busy[id].AddTime(perf.RunningTotalTime, d)
					batches[id].Flush()
				}
			}
		}
		s, err := center.NewStack(center.StackConfig{Name: opts.Name.String(), Workers: opts.Workers, Center: ccfg})
		if err != nil {
			return nil, fmt.Errorf("conn: %w", err)
		}
		m.stack, m.ownsStack = s, true
	}
	m.prefetch.New = func() any { b := make([]byte, opts.PrefetchBytes); return &b }
	m.iovs = map[int]*[iovMax]unix.Iovec{}
	m.labels = map[int]*workerLabels{}
	m.runBatches = map[int]*perf.Batch{}
	for _, w := range m.stack.Workers() {
		m.iovs[w.ID()] = new([iovMax]unix.Iovec)
		if !opts.NoCounters && m.batches == nil {
			m.runBatches[w.ID()] = m.perf.Worker(w.ID()).NewBatch()
		}
		id := strconv.Itoa(w.ID())
		m.labels[w.ID()] = &workerLabels{
			worker: pprof.WithLabels(context.Background(), pprof.Labels("gomsgr.stack", m.stack.Name(), "gomsgr.worker", id)),
			fast: pprof.WithLabels(context.Background(), pprof.Labels("gomsgr.stack", m.stack.Name(), "gomsgr.worker", id,
				"gomsgr.messenger", opts.Name.String(), "gomsgr.dispatch", "fast")),
		}
	}
	m.dq = prioq.NewDispatch(m.dispatch)
	m.loop = &Connection{msgr: m, loopback: true, peerType: opts.Name.Type, peerName: opts.Name}
	m.loop.state.Store(stReady)
	return m, nil
}

// Perf returns the messenger's perf counters (Ceph's l_msgr_* per worker):
// dump them with WriteJSON or export them with perf/promperf.
func (m *Messenger) Perf() *perf.Set { return m.perf }

// Name returns the messenger's entity name.
func (m *Messenger) Name() gomsgr.EntityName { return m.opts.Name }

// SetPolicy sets the policy for peers of type t.
func (m *Messenger) SetPolicy(t gomsgr.EntityType, p gomsgr.Policy) { m.pols.Set(t, p) }

// SetDefaultPolicy sets the policy for peer types without their own.
func (m *Messenger) SetDefaultPolicy(p gomsgr.Policy) { m.pols.SetDefault(p) }

// DispatchThrottle returns the messenger-wide dispatch throttle (nil when
// disabled).
func (m *Messenger) DispatchThrottle() *Throttle { return m.dthr }

// AddDispatcher appends d to the dispatch chain.
func (m *Messenger) AddDispatcher(d gomsgr.Dispatcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chain.Add(d)
}

// Bind listens on addr; see Options for the port range and retries.
func (m *Messenger) Bind(addr netip.AddrPort) error {
	m.mu.Lock()
	if m.proc != nil {
		m.mu.Unlock()
		return errors.New("conn: already bound")
	}
	m.mu.Unlock()
	p, err := newProcessor(m, addr, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.proc = p
	m.addrs = gomsgr.AddrVec{p.addr}
	m.bindAddr = addr
	m.mu.Unlock()
	return nil
}

// Rebind closes the listening socket and every connection, then binds again
// to a port of the range that is neither the current one nor in avoid, with
// a new nonce, and starts accepting (Ceph's rebind). Peers that held the old
// address see their connections reset.
func (m *Messenger) Rebind(ctx context.Context, avoid []uint16) error {
	m.mu.Lock()
	old, started := m.proc, m.started
	addr := m.bindAddr
	m.mu.Unlock()
	if old == nil {
		return errors.New("conn: rebind before bind")
	}
	if err := old.stop(ctx); err != nil {
		return err
	}
	m.MarkDownAll()
	avoid = append(append([]uint16(nil), avoid...), old.addr.Addr.Port())
	m.nonce.Add(1_000_000) // as Ceph: a new instance of the same entity
	p, err := newProcessor(m, netip.AddrPortFrom(addr.Addr(), 0), avoid)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.proc = p
	m.addrs = gomsgr.AddrVec{p.addr}
	m.mu.Unlock()
	if started {
		return p.start()
	}
	return nil
}

// Addrs returns the bound addresses (empty when not bound).
func (m *Messenger) Addrs() gomsgr.AddrVec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrs
}

// Start starts accepting and dispatching.
func (m *Messenger) Start() error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("conn: already started")
	}
	if m.stopping {
		m.mu.Unlock()
		return gomsgr.ErrShutdown
	}
	m.started = true
	p := m.proc
	m.mu.Unlock()
	go m.dq.Run()
	if p != nil {
		return p.start()
	}
	return nil
}

// ConnectTo returns the connection to addr, creating it (and starting its
// connect and handshake on a worker) if there is none.
func (m *Messenger) ConnectTo(t gomsgr.EntityType, addr gomsgr.EntityAddr) (gomsgr.Connection, error) {
	return m.connect(t, addr)
}

func (m *Messenger) connect(t gomsgr.EntityType, addr gomsgr.EntityAddr) (*Connection, error) {
	return m.dial(t, addr, false)
}

// ConnectAnon opens a new anonymous connection to addr: it is not
// registered by address, so every call makes a new session, and ConnectTo
// never returns it (Ceph's connect_to with anon).
func (m *Messenger) ConnectAnon(t gomsgr.EntityType, addr gomsgr.EntityAddr) (*Connection, error) {
	return m.dial(t, addr, true)
}

func (m *Messenger) dial(t gomsgr.EntityType, addr gomsgr.EntityAddr, anon bool) (*Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return nil, gomsgr.ErrShutdown
	}
	if !m.started {
		return nil, gomsgr.ErrNotStarted
	}
	if !anon {
		for _, a := range m.addrs {
			if a.Addr == addr.Addr && (addr.Nonce == 0 || addr.Nonce == a.Nonce) {
				return m.loop, nil
			}
		}
	}
	k := msgrbase.KeyOf(addr)
	if c := m.reg.Lookup(k); c != nil && !anon {
		return c, nil
	}
	w := m.stack.Pick()
	c := newConnection(m, w, session.Client, t, addr, m.addrs)
	if anon {
		m.reg.AddAnon(c)
	} else {
		m.reg.Register(k, c)
	}
	// Submit runs c.connect inline when called on c's worker (from a fast
	// dispatcher): m.mu must not be held then. Elsewhere it only queues,
	// and holding m.mu keeps the connection's events (a quick refusal)
	// from being delivered before ConnectTo has returned it.
	var err error
	if w.Center().InOwner() {
		m.mu.Unlock()
		err = w.Center().Submit(c.connect)
		m.mu.Lock()
	} else {
		err = w.Center().Submit(c.connect)
	}
	if err != nil {
		m.reg.Drop(k, c)
		m.reg.DropAnon(c)
		w.Release()
		return nil, fmt.Errorf("conn: %w", err)
	}
	return c, nil
}

// SendTo sends msg to addr over its connection, connecting if needed.
func (m *Messenger) SendTo(msg *gomsgr.Message, t gomsgr.EntityType, addr gomsgr.EntityAddr) error {
	c, err := m.connect(t, addr)
	if err != nil {
		return err
	}
	return c.SendMessage(msg)
}

// MarkDown closes the connection to addr, if any.
func (m *Messenger) MarkDown(addr gomsgr.EntityAddr) {
	m.mu.Lock()
	c := m.reg.Lookup(msgrbase.KeyOf(addr))
	m.mu.Unlock()
	if c != nil {
		c.MarkDown()
	}
}

// MarkDownAll closes every connection.
func (m *Messenger) MarkDownAll() {
	m.mu.Lock()
	all := m.reg.All()
	m.mu.Unlock()
	for _, c := range all {
		c.MarkDown()
	}
}

// unregister forgets c.
func (m *Messenger) unregister(c *Connection) {
	m.mu.Lock()
	m.reg.Unregister(c.key, c)
	m.mu.Unlock()
}

// addAccepted registers a connection accepted by the processor.
func (m *Messenger) addAccepted(c *Connection) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return false
	}
	m.reg.AddAccepting(c)
	return true
}

// connReady runs on c's worker when its handshake completes.
func (m *Messenger) connReady(c *Connection) {
	ev := msgrbase.EvConnect
	if c.role == session.Server {
		ev = msgrbase.EvAccept
		m.mu.Lock()
		m.reg.Accepted(c)
		pol := c.eng.Policy()
		addrs := c.peerAddrs
		if len(addrs) > 0 && (!pol.Lossy || pol.RegisterLossyClients) {
			c.key = msgrbase.KeyOf(addrs[0])
			if old := m.reg.Lookup(c.key); old != nil && old != c && old.state.Load() != stClosed && !old.markedDown.Load() {
				// Another connection to this peer registered since the
				// decision (a race with ConnectTo): this one fails, the
				// existing one is kept (Ceph's accept_conn refusing).
				m.mu.Unlock()
				c.close(fmt.Errorf("conn: a connection to %v registered meanwhile", addrs[0]), false)
				return
			}
			m.reg.Register(c.key, c)
		} else {
			m.reg.AddAnon(c)
		}
		m.mu.Unlock()
	}
	m.queueEvent(c, ev)
}

// connClosed runs on c's worker after it closed.
func (m *Messenger) connClosed(c *Connection, prev int32, err error, notify bool) {
	c.pc.Dec(perf.ActiveConnections)
	c.w.Release()
	m.unregister(c)
	if !notify {
		return
	}
	m.faults.Add(1)
	level := slog.LevelDebug
	var fe *msgr2.FrameError
	if errors.As(err, &fe) || errors.Is(err, session.ErrProtocol) || errors.Is(err, session.ErrAuth) ||
		errors.Is(err, session.ErrPeerType) || errors.Is(err, session.ErrMissingFeatures) ||
		errors.Is(err, msgr2.ErrBadBanner) || errors.Is(err, msgr2.ErrV1Banner) {
		level = slog.LevelWarn // the peer broke the protocol: say so
	}
	m.opts.Logger.Log(context.Background(), level, "conn: connection closed", "peer", c.target.String(), "state", stateNames[prev], "err", err)
	switch {
	case prev == stReady:
		m.queueEvent(c, msgrbase.EvReset)
	case c.role == session.Client && errors.Is(err, errRefused):
		m.queueEvent(c, msgrbase.EvRefused)
	case c.role == session.Client:
		m.queueEvent(c, msgrbase.EvReset)
	}
}

func (m *Messenger) queueEvent(c *Connection, ev msgrbase.ConnEvent) {
	if len(m.chain.Handlers) == 0 {
		return
	}
	m.dq.Enqueue(gomsgr.PrioHighest, qitem{conn: c, ev: ev})
}

// deliver hands a received message to a fast dispatcher on this worker or
// queues it for the slow ones.
func (m *Messenger) deliver(c *Connection, msg *gomsgr.Message) {
	m.deliverHeld(c, msg, c.takeHeld())
}

func (m *Messenger) deliverHeld(c *Connection, msg *gomsgr.Message, h held) {
	for _, f := range m.chain.Fast {
		if f.CanFastDispatch(msg) {
			// Label the callback in CPU profiles (no allocation: the
			// label sets are made once per worker).
			l := c.labels
			if l != nil {
				pprof.SetGoroutineLabels(l.fast)
			}
			if c.pc != nil && c.fastTick&m.sampleMask == 0 {
				// A sampled callback stands for SampleEvery of them.
				c.fastTick++
				start := nanotime()
				f.FastDispatch(msg)
				c.pc.AddTime(perf.RunningFastDispatchTime, time.Duration(nanotime()-start)*time.Duration(m.opts.SampleEvery))
			} else {
				c.fastTick++
				f.FastDispatch(msg)
			}
			if l != nil {
				pprof.SetGoroutineLabels(l.worker)
			}
			m.putHeld(c, h)
			return
		}
	}
	prio := msg.Priority
	if prio == 0 {
		prio = gomsgr.PrioDefault
	}
	if !m.dq.Enqueue(prio, qitem{m: msg, conn: c, held: h}) {
		m.putHeld(c, h)
		msg.Release()
	}
}

// putHeld gives back the throttle budget a message held, once dispatched.
func (m *Messenger) putHeld(c *Connection, h held) {
	if h == (held{}) {
		return
	}
	c.thr.Msgs.Put(h.msgs)
	c.thr.Bytes.Put(h.bytes)
	m.dthr.Put(h.dispatch)
}

func (m *Messenger) deliverLoopback(c *Connection, msg *gomsgr.Message) error {
	m.mu.Lock()
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return gomsgr.ErrShutdown
	}
	msg.Src = m.opts.Name
	msg.Conn = c
	m.deliver(c, msg)
	return nil
}

// dispatch runs on the dispatch queue's goroutine.
func (m *Messenger) dispatch(it qitem) {
	if it.m != nil {
		defer m.putHeld(it.conn, it.held)
		if !m.chain.Dispatch(it.m) {
			m.opts.Logger.Warn("conn: message not dispatched", "type", it.m.Type, "from", it.m.Src.String())
			it.m.Release()
		}
		return
	}
	m.chain.Event(it.conn, it.ev)
}

// Shutdown stops accepting, closes every connection, stops dispatching and,
// if the messenger owns its stack, stops the workers.
func (m *Messenger) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return m.Wait(ctx)
	}
	m.stopping = true
	m.stopFlag.Store(true)
	started := m.started
	p := m.proc
	m.mu.Unlock()
	var errs []error
	if p != nil {
		errs = append(errs, p.stop(ctx))
	}
	m.MarkDownAll()
	// Wait until every connection's worker has run its close.
	for _, w := range m.stack.Workers() {
		if err := w.Center().SubmitWait(ctx, func() {}); err != nil && !errors.Is(err, center.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if started {
		for _, it := range m.dq.Stop() {
			if it.m != nil {
				m.putHeld(it.conn, it.held)
				it.m.Release()
			}
		}
		select {
		case <-m.dq.Done():
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
	}
	if m.ownsStack {
		if err := m.stack.Stop(ctx); err != nil {
			errs = append(errs, err)
		} else {
			// The workers have returned (after their last turn's hook):
			// publish what handlers counted on the way out.
			for _, b := range m.batches {
				b.Flush()
			}
		}
	}
	close(m.done)
	return errors.Join(errs...)
}

// Wait blocks until Shutdown completed or ctx ends.
func (m *Messenger) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// workerLabels are a worker's pprof label sets: its own, and its own plus
// the messenger and "fast dispatch" while a fast dispatcher runs.
type workerLabels struct {
	worker, fast context.Context
}
