package conn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/perf"
)

// Messenger is the event-loop messenger (Ceph's AsyncMessenger). Create it
// with NewMessenger; it implements gomsgr.Messenger. Besides the methods
// listed here it has the interface's Name, SetPolicy, SetDefaultPolicy,
// AddDispatcher, Addrs, ConnectTo, SendTo, MarkDown, MarkDownAll and Wait,
// and Perf (its perf counters), DispatchThrottleBytes and SetInject,
// shared with package simple.
type Messenger struct {
	messengerAPI
	sh   msgrbase.Shell
	opts Options
	// batches gather each worker's message and byte counts during a loop
	// turn; OnBusy publishes them. Nil when counting is off or the stack
	// is not ours (then each handler run publishes its own).
	batches    []*perf.Batch
	runBatches map[int]*perf.Batch // per worker, published per handler run
	stack      *center.Stack
	ownsStack  bool   // started by NewMessenger: Shutdown stops it
	shareStack bool   // from center.Acquire: Shutdown releases it
	unhook     func() // removes the busy hook from a shared stack
	loop       Connection

	mu       sync.Mutex // guards proc and bindAddr
	proc     *Processor
	bindAddr netip.AddrPort

	iovs   map[int]*iovecs          // one per worker: writev runs on the worker
	labels map[int]*msgrbase.Labels // per worker, for fast dispatch
}

// messengerAPI is the shared gomsgr.Messenger methods, embedded unexported
// so that only they are promoted.
type messengerAPI = msgrbase.MessengerAPI

var _ gomsgr.Messenger = (*Messenger)(nil)

// NewMessenger creates a messenger and, unless opts.Stack is given, its own
// stack of workers.
func NewMessenger(opts Options) (*Messenger, error) {
	opts = opts.withDefaults()
	m := &Messenger{opts: opts}
	if err := m.sh.Init(m, (*dialer)(m), msgrbase.ShellConfig{
		Name: opts.Name, Nonce: opts.Nonce, Perf: opts.Perf, Logger: opts.Logger,
		DispatchThrottleBytes: opts.DispatchThrottleBytes, SampleEvery: opts.SampleEvery, Prefix: "conn",
		Bind: msgrbase.BindConfig{PortMin: opts.BindPortMin, PortMax: opts.BindPortMax,
			RetryCount: opts.BindRetryCount, RetryDelay: opts.BindRetryDelay},
		Testing: opts.Testing, MaxSegmentBytes: opts.MaxSegmentBytes, FailOnSkippedMessage: opts.FailOnSkippedMessage,
		Auth:          opts.Auth,
		ThrottleShare: opts.ThrottleShare, MaxHandshaking: opts.MaxHandshaking,
	}); err != nil {
		return nil, err
	}
	m.messengerAPI = msgrbase.NewMessengerAPI(&m.sh)
	m.stack = opts.Stack
	if m.stack == nil {
		if err := m.startStack(); err != nil {
			return nil, err
		}
	}
	m.iovs = map[int]*iovecs{}
	m.labels = map[int]*msgrbase.Labels{}
	m.runBatches = map[int]*perf.Batch{}
	for _, w := range m.stack.Workers() {
		m.iovs[w.ID()] = new(iovecs)
		if !opts.NoCounters && m.batches == nil {
			m.runBatches[w.ID()] = m.sh.Perf().Worker(w.ID()).NewBatch()
		}
		id := strconv.Itoa(w.ID())
		m.labels[w.ID()] = &msgrbase.Labels{
			Worker: pprof.WithLabels(context.Background(), pprof.Labels("gomsgr.stack", m.stack.Name(), "gomsgr.worker", id)),
			Fast: pprof.WithLabels(context.Background(), pprof.Labels("gomsgr.stack", m.stack.Name(), "gomsgr.worker", id,
				"gomsgr.messenger", opts.Name.String(), "gomsgr.dispatch", "fast")),
		}
	}
	m.loop.api = msgrbase.NewAPI(&m.loop.core)
	m.loop.msgr = m
	m.loop.core.Init(&m.sh, (*ops)(&m.loop), &m.loop, session.Client, opts.Name.Type, gomsgr.EntityAddr{})
	m.sh.SetLoopback(&m.loop.core)
	return m, nil
}

// startStack gives the messenger its workers: the process-wide stack of
// its configuration, or a stack of its own (Options.OwnStack, or a
// Center.OnBusy hook of the caller's). Either way each busy turn of a
// worker publishes the counts the messenger's handlers gathered on it and
// adds the turn to msgr_running_total_time.
func (m *Messenger) startStack() error {
	opts := m.opts
	ccfg := opts.Center
	var hook func(int, time.Duration)
	if !opts.NoCounters && ccfg.OnBusy == nil {
		// msgr_running_total_time: the loop reports each busy turn;
		// the counts its handlers gathered are published then.
		busy := make([]*perf.Counters, opts.Workers)
		batches := make([]*perf.Batch, opts.Workers)
		for i := range busy {
			busy[i] = m.sh.Perf().Worker(i)
			batches[i] = busy[i].NewBatch()
		}
		m.batches = batches
		hook = func(id int, d time.Duration) {
			if id < len(busy) {
				busy[id].AddTime(perf.RunningTotalTime, d)
				batches[id].Flush()
			}
		}
	}
	if !opts.OwnStack && ccfg.OnBusy == nil {
		s, err := center.Acquire(center.StackConfig{Workers: opts.Workers, Center: ccfg})
		if err != nil {
			return fmt.Errorf("conn: %w", err)
		}
		if hook != nil {
			if m.unhook, err = s.OnBusy(hook); err != nil {
				return errors.Join(fmt.Errorf("conn: %w", err), s.Release(context.Background()))
			}
		}
		m.stack, m.shareStack = s, true
		return nil
	}
	if hook != nil {
		ccfg.OnBusy = hook
	}
	s, err := center.NewStack(center.StackConfig{Name: opts.Name.String(), Workers: opts.Workers, Center: ccfg})
	if err != nil {
		return fmt.Errorf("conn: %w", err)
	}
	m.stack, m.ownsStack = s, true
	return nil
}

// Bind listens on addr: port 0 takes a kernel-chosen port, unless
// Options.BindPortMin/BindPortMax ask for Ceph's range scan, which retries
// (Options.BindRetryCount, BindRetryDelay) until ctx ends.
func (m *Messenger) Bind(ctx context.Context, addr netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return errors.New("conn: already bound")
	}
	if m.sh.Stopping() {
		return gomsgr.ErrShutdown
	}
	p, err := newProcessor(ctx, m, addr, nil)
	if err != nil {
		return err
	}
	m.proc = p
	m.bindAddr = addr
	m.sh.SetBound(p.addr.Addr)
	return nil
}

// Rebind closes the listening socket and every connection, then binds again
// to a port that is neither the current one nor in avoid, with a new nonce,
// and starts accepting (Ceph's rebind). Peers that held the old address see
// their connections reset.
func (m *Messenger) Rebind(ctx context.Context, avoid []uint16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, addr := m.proc, m.bindAddr
	if old == nil {
		return errors.New("conn: rebind before bind")
	}
	if err := old.stop(ctx); err != nil {
		return err
	}
	m.proc = nil
	m.sh.SetBound(netip.AddrPort{})
	m.sh.MarkDownAll()
	avoid = append(append([]uint16(nil), avoid...), old.addr.Addr.Port())
	m.sh.NewInstance()
	p, err := newProcessor(ctx, m, netip.AddrPortFrom(addr.Addr(), 0), avoid)
	if err != nil {
		return err
	}
	m.proc = p
	m.sh.SetBound(p.addr.Addr)
	if m.sh.Started() {
		return p.start()
	}
	return nil
}

// Start starts accepting and dispatching.
func (m *Messenger) Start() error {
	return m.sh.Start(func() error {
		m.mu.Lock()
		p := m.proc
		m.mu.Unlock()
		if p != nil {
			return p.start()
		}
		return nil
	})
}

// ConnectAnon opens a new anonymous connection to addr: it is not
// registered by address, so every call makes a new session, and ConnectTo
// never returns it (Ceph's connect_to with anon).
func (m *Messenger) ConnectAnon(t gomsgr.EntityType, addr gomsgr.EntityAddr) (*Connection, error) {
	return msgrbase.DialAnon[*Connection](&m.sh, t, addr)
}

// dialer is the messenger as its shell dials with it (msgrbase.Dialer).
type dialer Messenger

// NewConn makes a client connection on the least-loaded worker.
func (d *dialer) NewConn(t gomsgr.EntityType, addr gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *msgrbase.Conn {
	m := (*Messenger)(d)
	return &newConnection(m, m.stack.Pick(), session.Client, t, addr, myAddrs).core
}

// StartConn queues the connect on the connection's worker (or runs it
// there, when called on it: from a fast dispatcher).
func (d *dialer) StartConn(core *msgrbase.Conn) error {
	c := core.Self.(*Connection)
	if err := c.c.Submit(c.connect); err != nil {
		c.w.Release()
		return err
	}
	return nil
}

// connReady runs on c's worker when its handshake completes.
func (m *Messenger) connReady(c *Connection) {
	if err := m.sh.ConnReady(&c.core, c.eng.Policy()); err != nil {
		c.close(err, false)
	}
}

// connClosed runs on c's worker after it closed.
func (m *Messenger) connClosed(c *Connection, prev msgrbase.State, err error, notify bool) {
	c.core.PC.Dec(perf.ActiveConnections)
	c.w.Release()
	m.sh.ConnClosed(&c.core, prev, err, notify)
}

// releaseStack hands a shared stack back: the busy hook is removed, a
// barrier on each worker makes sure no turn still runs it, the counts
// gathered since the last busy turn are published there, and the stack's
// last user stops it.
func (m *Messenger) releaseStack(ctx context.Context) error {
	if m.unhook != nil {
		m.unhook()
		m.unhook = nil
	}
	for _, w := range m.stack.Workers() {
		id := w.ID()
		err := w.Center().SubmitWait(ctx, func() {
			if id < len(m.batches) {
				m.batches[id].Flush()
			}
		})
		if err != nil && !errors.Is(err, center.ErrClosed) {
			return err
		}
	}
	m.shareStack = false
	return m.stack.Release(ctx)
}

// Stack returns the messenger's workers: Options.Stack, the process-wide
// stack it shares, or its own (Options.OwnStack).
func (m *Messenger) Stack() *center.Stack { return m.stack }

// Shutdown stops accepting, closes every connection, stops dispatching and
// lets the workers go: it stops a stack of the messenger's own, and
// releases the process-wide one (the last messenger to release it stops
// it); a Stack from Options stays running.
func (m *Messenger) Shutdown(ctx context.Context) error {
	return m.sh.Shutdown(ctx, func(ctx context.Context) error {
		m.mu.Lock()
		p := m.proc
		m.mu.Unlock()
		if p != nil {
			return p.stop(ctx)
		}
		return nil
	}, func(ctx context.Context) error {
		// Wait until every connection's worker has run its close.
		var errs []error
		for _, w := range m.stack.Workers() {
			if err := w.Center().SubmitWait(ctx, func() {}); err != nil && !errors.Is(err, center.ErrClosed) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}, func(ctx context.Context) error {
		if m.shareStack {
			return m.releaseStack(ctx)
		}
		if !m.ownsStack {
			return nil
		}
		if err := m.stack.Stop(ctx); err != nil {
			return err
		}
		// The workers have returned (after their last turn's hook):
		// publish what handlers counted on the way out.
		for _, b := range m.batches {
			b.Flush()
		}
		return nil
	})
}
