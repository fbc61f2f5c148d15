package simple

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// maxAcceptBackoff bounds how long accepting pauses after the process ran
// out of file descriptors.
const maxAcceptBackoff = 2 * time.Second

// Messenger is the goroutine-per-connection messenger (Ceph's
// SimpleMessenger role). Create it with NewMessenger; it implements
// gomsgr.Messenger.
//
// Lock order: Messenger.mu before Connection.mu.
type Messenger struct {
	opts  Options
	nonce atomic.Uint32          // changes on Rebind
	dq    *prioq.Dispatch[qitem] // Ceph's DispatchQueue
	gseq  session.GlobalSeq

	perf      *perf.Set
	faults    atomic.Uint64    // connections closed by a fault (not marked down)
	accepted  atomic.Uint64    // sockets accepted
	acceptErr atomic.Uint64    // failed accepts
	shards    []*perf.Counters // connections count into shards[id % len]
	nextShard atomic.Uint32

	pols *msgrbase.PolicySet[*Throttle] // the policies and their throttles
	dthr *Throttle                      // ms_dispatch_throttle_bytes; nil when disabled

	// wg counts the accept loop and every connection's goroutines; Add
	// happens under mu while !stopping, so it never races with Shutdown's
	// Wait.
	wg sync.WaitGroup

	mu         sync.Mutex
	chain      msgrbase.Chain // the dispatchers; added under mu
	ln         net.Listener
	bindAddr   netip.AddrPort
	acceptDone chan struct{} // closed when the current accept loop returns
	reg        msgrbase.Registry[*Connection]
	loop       *Connection
	addrs      gomsgr.AddrVec
	started    bool
	stopping   bool
	stopCh     chan struct{} // closed when Shutdown begins
	done       chan struct{} // closed when Shutdown has completed
}

var _ gomsgr.Messenger = (*Messenger)(nil)

// NewMessenger creates a messenger. It starts no goroutine until Start.
func NewMessenger(opts Options) (*Messenger, error) {
	opts = opts.withDefaults()
	if opts.BindPortMin < 0 || opts.BindPortMax > 65535 || opts.BindPortMin > opts.BindPortMax {
		return nil, fmt.Errorf("simple: bad bind port range %d..%d", opts.BindPortMin, opts.BindPortMax)
	}
	m := &Messenger{
		opts:   opts,
		reg:    msgrbase.NewRegistry[*Connection](),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	m.nonce.Store(opts.Nonce)
	if opts.Nonce == 0 {
		m.nonce.Store(rand.Uint32() | 1)
	}
	m.perf = opts.Perf
	if m.perf == nil {
		m.perf = perf.NewSet(opts.Name.String())
	}
	for i := range runtime.GOMAXPROCS(0) {
		m.shards = append(m.shards, m.perf.Worker(i))
	}
	m.dthr = newThrottle(m.perf, "msgr_dispatch_throttler-"+opts.Name.String(), opts.DispatchThrottleBytes)
	m.pols = msgrbase.NewPolicySet(func(name string, max int64) *Throttle { return newThrottle(m.perf, name, max) })
	m.dq = prioq.NewDispatch(m.dispatch)
	m.loop = &Connection{msgr: m, loopback: true, peerType: opts.Name.Type, peerName: opts.Name}
	m.loop.state.Store(stReady)
	return m, nil
}

// Perf returns the messenger's perf counters (Ceph's l_msgr_*): dump them
// with WriteJSON or export them with perf/promperf.
func (m *Messenger) Perf() *perf.Set { return m.perf }

func (m *Messenger) counters() *perf.Counters {
	return m.shards[int(m.nextShard.Add(1)-1)%len(m.shards)]
}

// Name returns the messenger's entity name.
func (m *Messenger) Name() gomsgr.EntityName { return m.opts.Name }

// SetPolicy sets the policy for peers of type t.
func (m *Messenger) SetPolicy(t gomsgr.EntityType, p gomsgr.Policy) { m.pols.Set(t, p) }

// SetDefaultPolicy sets the policy for peer types without their own.
func (m *Messenger) SetDefaultPolicy(p gomsgr.Policy) { m.pols.SetDefault(p) }

// AddDispatcher appends d to the dispatch chain.
func (m *Messenger) AddDispatcher(d gomsgr.Dispatcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chain.Add(d)
}

// Bind listens on addr. A port of 0 scans Options.BindPortMin..BindPortMax
// (or takes a kernel-chosen port with BindAnyPort); a bind that finds no
// free port is retried Options.BindRetryCount times, Options.BindRetryDelay
// apart, as Ceph's Processor::bind does.
func (m *Messenger) Bind(addr netip.AddrPort) error {
	m.mu.Lock()
	if m.ln != nil {
		m.mu.Unlock()
		return errors.New("simple: already bound")
	}
	if m.stopping {
		m.mu.Unlock()
		return gomsgr.ErrShutdown
	}
	m.mu.Unlock()
	ln, err := m.listen(addr, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln != nil || m.stopping {
		ln.Close()
		return errors.New("simple: already bound")
	}
	m.setListenerLocked(ln)
	m.bindAddr = addr
	return nil
}

func (m *Messenger) setListenerLocked(ln net.Listener) {
	bound := ln.Addr().(*net.TCPAddr).AddrPort()
	m.ln = ln
	m.addrs = gomsgr.AddrVec{{Type: msgr2.AddrMsgr2, Nonce: m.nonce.Load(), Addr: netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())}}
}

// Rebind closes the listening socket and every connection, then binds again
// to a port of the range that is neither the current one nor in avoid, with
// a new nonce, and starts accepting (Ceph's rebind). Peers that held the old
// address see their connections reset.
func (m *Messenger) Rebind(ctx context.Context, avoid []uint16) error {
	m.mu.Lock()
	ln, started, addr, acceptDone := m.ln, m.started, m.bindAddr, m.acceptDone
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return gomsgr.ErrShutdown
	}
	if ln == nil {
		return errors.New("simple: rebind before bind")
	}
	old := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	ln.Close()
	if acceptDone != nil {
		select {
		case <-acceptDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.MarkDownAll()
	avoid = append(append([]uint16(nil), avoid...), old)
	m.nonce.Add(1_000_000) // as Ceph: a new instance of the same entity
	nl, err := m.listen(netip.AddrPortFrom(addr.Addr(), 0), avoid)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.ln, m.addrs = nil, nil
		return err
	}
	if m.stopping {
		nl.Close()
		return gomsgr.ErrShutdown
	}
	m.setListenerLocked(nl)
	if started {
		m.startAcceptLocked()
	}
	return nil
}

// startAcceptLocked starts the accept loop on m.ln. Caller holds mu.
func (m *Messenger) startAcceptLocked() {
	done := make(chan struct{})
	m.acceptDone = done
	m.wg.Add(1)
	go m.acceptLoop(m.ln, done)
}

// listen binds addr (scanning the port range for port 0, skipping avoid).
func (m *Messenger) listen(addr netip.AddrPort, avoid []uint16) (net.Listener, error) {
	o := m.opts
	lo, hi := int(addr.Port()), int(addr.Port())
	if addr.Port() == 0 && !o.BindAnyPort {
		lo, hi = o.BindPortMin, o.BindPortMax
	}
	var lc net.ListenConfig
	var lastErr error
	for try := 0; try <= o.BindRetryCount; try++ {
		if try > 0 {
			o.Logger.Warn("simple: bind failed, retrying", "addr", addr, "err", lastErr, "delay", o.BindRetryDelay)
			time.Sleep(o.BindRetryDelay)
		}
		for port := lo; port <= hi; port++ {
			if port != 0 && slices.Contains(avoid, uint16(port)) {
				continue
			}
			ap := netip.AddrPortFrom(addr.Addr(), uint16(port))
			ln, err := lc.Listen(context.Background(), "tcp", ap.String())
			if err == nil {
				return ln, nil
			}
			lastErr = err
			if !errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("simple: %w", err)
			}
		}
	}
	return nil, fmt.Errorf("simple: bind %v: no free port in %d tries: %w", addr, o.BindRetryCount+1, lastErr)
}

// Addrs returns the bound addresses (empty when not bound).
func (m *Messenger) Addrs() gomsgr.AddrVec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrs
}

// Start starts accepting (if bound) and dispatching.
func (m *Messenger) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return gomsgr.ErrShutdown
	}
	if m.started {
		return errors.New("simple: already started")
	}
	m.started = true
	go m.dq.Run()
	if m.ln != nil {
		m.startAcceptLocked()
	}
	return nil
}

// acceptLoop accepts until the listener closes (Ceph's Processor::accept),
// pausing with a growing backoff when the process is out of descriptors.
func (m *Messenger) acceptLoop(ln net.Listener, done chan struct{}) {
	defer m.wg.Done()
	defer close(done)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.acceptErr.Add(1)
			backoff = min(max(2*backoff, 10*time.Millisecond), maxAcceptBackoff)
			m.opts.Logger.Warn("simple: accept failed, pausing", "err", err, "pause", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-m.stopCh:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		m.accepted.Add(1)
		peer := msgr2.EntityAddr{Type: msgr2.AddrMsgr2}
		if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			peer.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		c := newConnection(m, session.Server, 0, peer, m.Addrs())
		if !m.addAccepted(c) {
			c.readyTimer.Stop()
			nc.Close()
			continue
		}
		go c.run(nc)
	}
}

// ConnectTo returns the connection to addr, creating it (and starting its
// connect and handshake on a new goroutine) if there is none. An address of
// this messenger gives the loopback connection, which delivers to the local
// dispatchers.
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
	c := newConnection(m, session.Client, t, addr, m.addrs)
	if anon {
		m.reg.AddAnon(c)
	} else {
		m.reg.Register(k, c)
	}
	c.pc.Inc(perf.CreatedConnections)
	c.pc.Inc(perf.ActiveConnections)
	m.wg.Add(1)
	go c.run(nil)
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

// addAccepted registers a connection accepted by the accept loop and counts
// its goroutine; false means the messenger is stopping.
func (m *Messenger) addAccepted(c *Connection) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return false
	}
	m.reg.AddAccepting(c)
	c.pc.Inc(perf.CreatedConnections)
	c.pc.Inc(perf.ActiveConnections)
	m.wg.Add(1)
	return true
}

// connReady runs on c's reader goroutine, without c.mu, when its handshake
// completes.
func (m *Messenger) connReady(c *Connection) {
	ev := msgrbase.EvConnect
	if c.role == session.Server {
		ev = msgrbase.EvAccept
		c.mu.Lock()
		pol := c.eng.Policy()
		addrs := c.peerAddrs
		c.mu.Unlock()
		m.mu.Lock()
		m.reg.Accepted(c)
		if c.state.Load() == stClosed {
			m.mu.Unlock()
			return
		}
		if len(addrs) > 0 && addrs[0].Addr.Port() != 0 && (!pol.Lossy || pol.RegisterLossyClients) {
			c.key = msgrbase.KeyOf(addrs[0])
			if old := m.reg.Lookup(c.key); old != nil && old != c {
				// A newer session from the same peer replaces the old one.
				go old.MarkDown()
			}
			m.reg.Register(c.key, c)
		} else {
			m.reg.AddAnon(c)
		}
		m.mu.Unlock()
	}
	m.queueEvent(c, ev)
}

// connClosed runs once per connection, on the goroutine that closed it.
func (m *Messenger) connClosed(c *Connection, prev int32, err error, notify bool) {
	c.pc.Dec(perf.ActiveConnections)
	m.unregister(c)
	if !notify {
		return
	}
	m.faults.Add(1)
	m.opts.Logger.Debug("simple: connection closed", "peer", c.target.String(), "state", stateNames[prev], "err", err)
	switch {
	case prev == stReady:
		m.queueEvent(c, msgrbase.EvReset)
	case c.role == session.Client && errors.Is(err, syscall.ECONNREFUSED):
		m.queueEvent(c, msgrbase.EvRefused)
	case c.role == session.Client:
		m.queueEvent(c, msgrbase.EvReset)
	}
}

func (m *Messenger) queueEvent(c *Connection, ev msgrbase.ConnEvent) {
	m.mu.Lock()
	n := len(m.chain.Handlers)
	m.mu.Unlock()
	if n == 0 {
		return
	}
	m.dq.Enqueue(gomsgr.PrioHighest, qitem{conn: c, ev: ev})
}

// deliver hands a received message to a fast dispatcher on the calling
// goroutine (the connection's reader) or queues it for the slow ones; the
// throttle budget h is given back once it is dispatched. No connection lock
// is held.
func (m *Messenger) deliver(c *Connection, msg *gomsgr.Message, h held) {
	for _, f := range m.chain.Fast {
		if f.CanFastDispatch(msg) {
			if c.pc != nil {
				start := nanotime()
				f.FastDispatch(msg)
				c.pc.AddTime(perf.RunningFastDispatchTime, time.Duration(nanotime()-start))
			} else {
				f.FastDispatch(msg)
			}
			h.release()
			return
		}
	}
	if !m.dq.Enqueue(msg.Priority, qitem{m: msg, conn: c, held: h}) {
		h.release()
		msg.Release()
	}
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
	m.deliver(c, msg, held{})
	return nil
}

// dispatch runs on the dispatch queue's goroutine.
func (m *Messenger) dispatch(it qitem) {
	if it.m != nil {
		m.dispatchMessage(it.m)
		it.held.release()
		return
	}
	m.chain.Event(it.conn, it.ev)
}

func (m *Messenger) dispatchMessage(msg *gomsgr.Message) {
	if !m.chain.Dispatch(msg) {
		m.opts.Logger.Warn("simple: message not dispatched", "type", msg.Type, "from", msg.Src.String())
		msg.Release()
	}
}

// Shutdown stops accepting, closes every connection, waits for their
// goroutines and stops dispatching (queued messages are released). It must
// not be called from a dispatcher: it waits for the goroutine that runs it.
func (m *Messenger) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return m.Wait(ctx)
	}
	m.stopping = true
	close(m.stopCh)
	started := m.started
	ln := m.ln
	m.mu.Unlock()
	var errs []error
	if ln != nil {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("simple: %w", err))
		}
	}
	m.MarkDownAll()
	stopped := make(chan struct{})
	go func() { m.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if started {
		for _, it := range m.dq.Stop() {
			if it.m != nil {
				it.held.release()
				it.m.Release()
			}
		}
		select {
		case <-m.dq.Done():
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
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
