package simple

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/perf"
)

// maxAcceptBackoff bounds how long accepting pauses after the process ran
// out of file descriptors.
const maxAcceptBackoff = 2 * time.Second

// Messenger is the goroutine-per-connection messenger (Ceph's
// SimpleMessenger role). Create it with NewMessenger; it implements
// gomsgr.Messenger. Besides the methods listed here it has the interface's
// Name, SetPolicy, SetDefaultPolicy, AddDispatcher, Addrs, ConnectTo,
// SendTo, MarkDown, MarkDownAll and Wait, and Perf, DispatchThrottleBytes
// and SetInject, shared with package conn.
type Messenger struct {
	messengerAPI
	sh   msgrbase.Shell
	opts Options
	loop Connection

	accepted  atomic.Uint64    // sockets accepted
	acceptErr atomic.Uint64    // failed accepts
	shards    []*perf.Counters // connections count into shards[id % len]
	nextShard atomic.Uint32

	// wg counts the accept loop and every connection's goroutines (its
	// own and its writers). Add happens while the shell is not stopping,
	// under mu, or on a goroutine already counted (a writer is started by
	// its connection's goroutine), so it never races with Shutdown's Wait.
	wg sync.WaitGroup

	mu         sync.Mutex
	ln         net.Listener
	bindAddr   netip.AddrPort
	acceptDone chan struct{} // closed when the current accept loop returns
	stopCh     chan struct{} // closed when Shutdown begins

}

// messengerAPI is the shared gomsgr.Messenger methods, embedded unexported
// so that only they are promoted.
type messengerAPI = msgrbase.MessengerAPI

var _ gomsgr.Messenger = (*Messenger)(nil)

// NewMessenger creates a messenger. It starts no goroutine until Start.
func NewMessenger(opts Options) (*Messenger, error) {
	opts = opts.withDefaults()
	m := &Messenger{opts: opts, stopCh: make(chan struct{})}
	if err := m.sh.Init(m, (*dialer)(m), msgrbase.ShellConfig{
		Name: opts.Name, Nonce: opts.Nonce, Perf: opts.Perf, Logger: opts.Logger,
		DispatchThrottleBytes: opts.DispatchThrottleBytes, SampleEvery: opts.SampleEvery, Prefix: "simple",
		Bind: msgrbase.BindConfig{PortMin: opts.BindPortMin, PortMax: opts.BindPortMax,
			RetryCount: opts.BindRetryCount, RetryDelay: opts.BindRetryDelay},
		Testing: opts.Testing, MaxSegmentBytes: opts.MaxSegmentBytes, FailOnSkippedMessage: opts.FailOnSkippedMessage,
		Auth:          opts.Auth,
		ThrottleShare: opts.ThrottleShare, MaxHandshaking: opts.MaxHandshaking,
	}); err != nil {
		return nil, err
	}
	m.messengerAPI = msgrbase.NewMessengerAPI(&m.sh)
	for i := range runtime.GOMAXPROCS(0) {
		m.shards = append(m.shards, m.sh.Perf().Worker(i))
	}
	m.loop.api = msgrbase.NewAPI(&m.loop.core)
	m.loop.msgr = m
	m.loop.core.Init(&m.sh, (*ops)(&m.loop), &m.loop, session.Client, opts.Name.Type, gomsgr.EntityAddr{})
	m.sh.SetLoopback(&m.loop.core)
	return m, nil
}

func (m *Messenger) counters() *perf.Counters {
	return m.shards[int(m.nextShard.Add(1)-1)%len(m.shards)]
}

// Bind listens on addr: port 0 takes a kernel-chosen port, unless
// Options.BindPortMin/BindPortMax ask for Ceph's range scan, which retries
// (Options.BindRetryCount, BindRetryDelay) until ctx ends.
func (m *Messenger) Bind(ctx context.Context, addr netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln != nil {
		return errors.New("simple: already bound")
	}
	if m.sh.Stopping() {
		return gomsgr.ErrShutdown
	}
	ln, err := m.listen(ctx, addr, nil)
	if err != nil {
		return err
	}
	m.setListenerLocked(ln)
	m.bindAddr = addr
	return nil
}

func (m *Messenger) setListenerLocked(ln net.Listener) {
	m.ln = ln
	m.sh.SetBound(ln.Addr().(*net.TCPAddr).AddrPort())
}

// Rebind closes the listening socket and every connection, then binds again
// to a port that is neither the current one nor in avoid, with a new nonce,
// and starts accepting (Ceph's rebind). Peers that held the old address see
// their connections reset.
func (m *Messenger) Rebind(ctx context.Context, avoid []uint16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sh.Stopping() {
		return gomsgr.ErrShutdown
	}
	ln, addr, acceptDone := m.ln, m.bindAddr, m.acceptDone
	if ln == nil {
		return errors.New("simple: rebind before bind")
	}
	old := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	_ = ln.Close() // the accept loop ends with net.ErrClosed
	if acceptDone != nil {
		select {
		case <-acceptDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.ln = nil
	m.sh.SetBound(netip.AddrPort{})
	m.sh.MarkDownAll()
	avoid = append(append([]uint16(nil), avoid...), old)
	m.sh.NewInstance()
	nl, err := m.listen(ctx, netip.AddrPortFrom(addr.Addr(), 0), avoid)
	if err != nil {
		return err
	}
	if m.sh.Stopping() {
		_ = nl.Close()
		return gomsgr.ErrShutdown
	}
	m.setListenerLocked(nl)
	if m.sh.Started() {
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

// listen binds addr (a kernel port for port 0, or the configured range,
// skipping avoid). A kernel-chosen port may repeat one in avoid: it is
// given back and another taken.
func (m *Messenger) listen(ctx context.Context, addr netip.AddrPort, avoid []uint16) (net.Listener, error) {
	var lc net.ListenConfig
	for range 8 {
		ln, err := msgrbase.Bind(ctx, m.sh.BindConfig(), addr, avoid, func(ap netip.AddrPort) (net.Listener, error) {
			return lc.Listen(ctx, "tcp", ap.String())
		})
		if err != nil {
			return nil, fmt.Errorf("simple: %w", err)
		}
		if p := ln.Addr().(*net.TCPAddr).AddrPort().Port(); addr.Port() != 0 || !slices.Contains(avoid, p) {
			return ln, nil
		}
		_ = ln.Close()
	}
	return nil, fmt.Errorf("simple: bind %v: the kernel kept choosing a port to avoid", addr)
}

// Start starts accepting (if bound) and dispatching.
func (m *Messenger) Start() error {
	return m.sh.Start(func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.ln != nil {
			m.startAcceptLocked()
		}
		return nil
	})
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
			m.sh.Logger().Warn("simple: accept failed, pausing", "err", err, "pause", backoff)
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
		if !m.sh.AdmitAccepted() {
			// Too many accepted connections are not ready yet
			// (MaxHandshaking): refuse this one at once.
			m.counters().Inc(perf.HandshakesRefused)
			_ = nc.Close() // never used
			continue
		}
		var peer gomsgr.EntityAddr
		if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			peer = gomsgr.Msgr2Addr(ta.AddrPort())
		}
		c := newConnection(m, session.Server, 0, peer, m.sh.Addrs())
		if !m.addAccepted(c) {
			_ = nc.Close()
			continue
		}
		go c.run(nc)
	}
}

// addAccepted registers an accepted connection and counts its goroutine;
// false means the messenger is stopping.
func (m *Messenger) addAccepted(c *Connection) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.sh.AddAccepted(&c.core) {
		return false
	}
	c.core.PC.Inc(perf.CreatedConnections)
	c.core.PC.Inc(perf.ActiveConnections)
	m.wg.Add(1)
	return true
}

// ConnectAnon opens a new anonymous connection to addr: it is not
// registered by address, so every call makes a new session, and ConnectTo
// never returns it (Ceph's connect_to with anon).
func (m *Messenger) ConnectAnon(t gomsgr.EntityType, addr gomsgr.EntityAddr) (*Connection, error) {
	return msgrbase.DialAnon[*Connection](&m.sh, t, addr)
}

// dialer is the messenger as its shell dials with it (msgrbase.Dialer).
type dialer Messenger

// NewConn makes a client connection.
func (d *dialer) NewConn(t gomsgr.EntityType, addr gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *msgrbase.Conn {
	return &newConnection((*Messenger)(d), session.Client, t, addr, myAddrs).core
}

// StartConn starts the connection's goroutine, which dials.
func (d *dialer) StartConn(core *msgrbase.Conn) error {
	m := (*Messenger)(d)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sh.Stopping() {
		// Registered a moment ago: a decision may have picked it
		// (Existing) and handed it a socket, which close gives up.
		core.Self.(*Connection).close(gomsgr.ErrShutdown, false)
		return gomsgr.ErrShutdown
	}
	core.PC.Inc(perf.CreatedConnections)
	core.PC.Inc(perf.ActiveConnections)
	m.wg.Add(1)
	go core.Self.(*Connection).run(nil)
	return nil
}

// connReady runs on c's reader goroutine, without c's lock, when its
// handshake completes.
func (m *Messenger) connReady(c *Connection) {
	c.core.Mu.Lock()
	pol := c.eng.Policy()
	c.core.Mu.Unlock()
	if err := m.sh.ConnReady(&c.core, pol); err != nil {
		c.close(err, false)
	}
}

// SessionStats returns the messenger's session counters.
func (m *Messenger) SessionStats() gomsgr.SessionStats { return m.messengerAPI.SessionStats() }

// connClosed runs once per connection, on the goroutine that closed it.
func (m *Messenger) connClosed(c *Connection, prev msgrbase.State, err error, notify bool) {
	c.core.PC.Dec(perf.ActiveConnections)
	m.sh.ConnClosed(&c.core, prev, err, notify)
}

// Shutdown stops accepting, closes every connection, waits for their
// goroutines and stops dispatching (queued messages are released). It must
// not be called from a dispatcher: it waits for the goroutine that runs it.
func (m *Messenger) Shutdown(ctx context.Context) error {
	return m.sh.Shutdown(ctx, func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		close(m.stopCh)
		if m.ln != nil {
			if err := m.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("simple: %w", err)
			}
		}
		return nil
	}, func(ctx context.Context) error {
		stopped := make(chan struct{})
		go func() { m.wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func(context.Context) error { return nil })
}
