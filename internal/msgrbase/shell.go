package msgrbase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr/auth"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/prioq"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// ShellConfig is what the shell takes from a messenger's options.
type ShellConfig struct {
	Name                  gomsgr.EntityName
	Nonce                 uint32 // 0: random
	Perf                  *perf.Set
	Logger                *slog.Logger
	DispatchThrottleBytes int64 // <= 0: no dispatch throttle
	SampleEvery           int   // a power of two (see conn.Options.SampleEvery)
	Prefix                string
	Bind                  BindConfig        // how Bind binds (its Logger and Prefix are filled in)
	Testing               *testhooks.Config // the test hooks; its Inject is applied at once
	MaxSegmentBytes       uint32            // the frame segment limit (0: msgr2's default)
	FailOnSkippedMessage  bool              // ms_die_on_skipped_message, as a session failure
	Auth                  *auth.Config      // authentication (nil: none, crc)
	ThrottleShare         float64           // a frame's share of each byte throttle (outside (0, 1): none)
	MaxHandshaking        int               // accepted connections not yet ready (<= 0: no limit)
}

// Dialer is how a messenger makes and starts an outgoing connection; the
// shell decides when (ConnectTo, SendTo, ConnectAnon).
type Dialer interface {
	// NewConn makes a client connection of peer type t to addr, not yet
	// started; myAddrs are the messenger's bound addresses.
	NewConn(t gomsgr.EntityType, addr gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) *Conn
	// StartConn starts c's connect and handshake in the background; an
	// error means it never will (the messenger stops).
	StartConn(c *Conn) error
}

// Item is one dispatch queue entry: a message with the throttle budget it
// holds until dispatched, or a connection event.
type Item struct {
	M    *gomsgr.Message
	Conn *Conn
	Ev   ConnEvent
	Held Held
}

// Shell is the messenger both implementations embed (the part of Ceph's
// Messenger that AsyncMessenger and SimpleMessenger share): policies and
// their throttles, the dispatch chain and Ceph's DispatchQueue, the
// connection registry, the loopback connection, connection events, SendTo
// and MarkDown, the start/shutdown skeleton and counting. Each messenger
// keeps only what differs: binding and accepting, dialling, and how bytes
// move.
type Shell struct {
	cfg        ShellConfig
	self       gomsgr.Messenger
	dialer     Dialer
	sampleMask uint32
	auth       session.Auth // nil: auth none, crc
	nonce      atomic.Uint32
	perf       *perf.Set
	// Pols are the policies and their throttles; DThr is the dispatch
	// throttle (ms_dispatch_throttle_bytes; nil when off).
	Pols *PolicySet
	DThr *Throttle
	// GSeq hands out global_seq values to the messenger's sessions.
	GSeq   session.GlobalSeq
	dq     *prioq.Dispatch[Item]
	faults atomic.Uint64
	// SC counts what sessions went through.
	SC  SessionCounters
	inj injector
	// handshaking counts accepted connections not ready yet (see
	// AdmitAccepted).
	handshaking atomic.Int64

	mu       sync.Mutex
	chain    Chain // frozen once started
	reg      Registry[*Conn]
	loop     *Conn
	addrs    gomsgr.AddrVec
	started  bool
	stopping bool
	stopFlag atomic.Bool // stopping, readable without mu
	done     chan struct{}
}

// Init sets up the shell of messenger self, which dials with d; it fails
// on a bad configuration (a port range out of order).
func (s *Shell) Init(self gomsgr.Messenger, d Dialer, cfg ShellConfig) error {
	cfg.Bind.Logger, cfg.Bind.Prefix = cfg.Logger, cfg.Prefix
	if err := cfg.Bind.Check(); err != nil {
		return err
	}
	a, err := cfg.Auth.Engine()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Prefix, err)
	}
	s.cfg, s.self, s.dialer, s.auth = cfg, self, d, a
	if cfg.Testing != nil {
		s.SetInject(cfg.Testing.Inject)
	}
	s.sampleMask = uint32(max(cfg.SampleEvery, 1) - 1)
	s.nonce.Store(cfg.Nonce)
	if cfg.Nonce == 0 {
		s.nonce.Store(randNonce())
	}
	s.perf = cfg.Perf
	if s.perf == nil {
		s.perf = perf.NewSet(cfg.Name.String())
	}
	s.DThr = NewThrottle(s.perf, "msgr_dispatch_throttler-"+cfg.Name.String(), cfg.DispatchThrottleBytes).WithShare(cfg.ThrottleShare)
	s.Pols = NewPolicySet(s.perf)
	s.Pols.Share = cfg.ThrottleShare
	s.reg = NewRegistry[*Conn]()
	s.dq = prioq.NewDispatch(s.dispatch)
	s.done = make(chan struct{})
	return nil
}

// SessionConfig returns the session engine's configuration for a
// connection of this messenger: its identity and policies, the global_seq
// source, the segment limit and the test hooks.
func (s *Shell) SessionConfig(role session.Role, peerType gomsgr.EntityType, target gomsgr.EntityAddr, myAddrs gomsgr.AddrVec) session.Config {
	cfg := session.Config{
		Role: role, Name: s.cfg.Name, Addrs: myAddrs, Nonce: s.Nonce(),
		PeerType: peerType, PeerAddr: target,
		Policy: s.Pols.Policy, GlobalSeq: s.GSeq.Next,
		MaxSegmentBytes:      s.cfg.MaxSegmentBytes,
		FailOnSkippedMessage: s.cfg.FailOnSkippedMessage,
		Auth:                 s.auth,
		AuthFailed:           s.authFailed,
	}
	if h := s.cfg.Testing; h != nil {
		cfg.NoRevision1, cfg.Step = h.NoRevision1, h.Step
	}
	return cfg
}

// authFailed counts and logs an authentication failure of any connection.
func (s *Shell) authFailed(err error) {
	s.SC.AuthFailures.Add(1)
	s.cfg.Logger.Warn(s.cfg.Prefix+": authentication failed", "err", err)
}

// BindConfig returns how the messenger binds (ms_bind_*).
func (s *Shell) BindConfig() BindConfig { return s.cfg.Bind }

// SetLoopback installs the messenger's connection to itself, whose core is
// c: messages sent on it go straight to the dispatchers.
func (s *Shell) SetLoopback(c *Conn) {
	c.Loopback = true
	c.PeerT, c.PeerName = s.cfg.Name.Type, s.cfg.Name
	c.St.Store(Ready)
	s.loop = c
}

// Name returns the messenger's entity name.
func (s *Shell) Name() gomsgr.EntityName { return s.cfg.Name }

// Perf returns the messenger's perf counters (Ceph's l_msgr_*): dump them
// with WriteJSON or export them with perf/promperf.
func (s *Shell) Perf() *perf.Set { return s.perf }

// Nonce returns the messenger's current nonce.
func (s *Shell) Nonce() uint32 { return s.nonce.Load() }

// NewInstance changes the nonce as Ceph's rebind does: a new instance of
// the same entity.
func (s *Shell) NewInstance() { s.nonce.Add(1_000_000) }

// Logger returns the messenger's logger.
func (s *Shell) Logger() *slog.Logger { return s.cfg.Logger }

// Sampled reports whether tick picks a sampled timing (one in
// SampleEvery).
func (s *Shell) Sampled(tick uint32) bool { return tick&s.sampleMask == 0 }

// SampleEvery returns how many events one sampled timing stands for.
func (s *Shell) SampleEvery() time.Duration { return time.Duration(s.sampleMask + 1) }

// configure runs f under the lock unless the messenger started.
func (s *Shell) configure(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return gomsgr.ErrStarted
	}
	f()
	return nil
}

// SetPolicy sets the policy for peers of type t. After Start it returns
// gomsgr.ErrStarted: policies are fixed once connections may use them.
func (s *Shell) SetPolicy(t gomsgr.EntityType, p gomsgr.Policy) error {
	return s.configure(func() { s.Pols.Set(t, p) })
}

// SetDefaultPolicy sets the policy for peer types without their own;
// gomsgr.ErrStarted after Start.
func (s *Shell) SetDefaultPolicy(p gomsgr.Policy) error {
	return s.configure(func() { s.Pols.SetDefault(p) })
}

// AddDispatcher appends d to the dispatch chain; gomsgr.ErrStarted after
// Start (the delivery paths read the chain without a lock).
func (s *Shell) AddDispatcher(d gomsgr.Dispatcher) error {
	return s.configure(func() { s.chain.Add(d) })
}

// Addrs returns the bound addresses (empty when not bound).
func (s *Shell) Addrs() gomsgr.AddrVec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// SetBound records the address the listener is bound to, with the
// current nonce; the zero AddrPort forgets it.
func (s *Shell) SetBound(ap netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ap.IsValid() {
		s.addrs = nil
		return
	}
	a := gomsgr.Msgr2Addr(ap)
	a.Nonce = s.nonce.Load()
	s.addrs = gomsgr.AddrVec{a}
}

// MyAddr returns the first bound address (zero when not bound), as the
// decision table compares addresses.
func (s *Shell) MyAddr() gomsgr.EntityAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.addrs) > 0 {
		return s.addrs[0]
	}
	return gomsgr.EntityAddr{}
}

// Started reports whether Start ran; Stopping whether Shutdown began.
func (s *Shell) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Stopping reports whether Shutdown began; it takes no lock.
func (s *Shell) Stopping() bool { return s.stopFlag.Load() }

// Start starts dispatching, then runs listen (start accepting, if bound).
func (s *Shell) Start(listen func() error) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return gomsgr.ErrShutdown
	}
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("%s: %w", s.cfg.Prefix, gomsgr.ErrStarted)
	}
	s.started = true
	s.mu.Unlock()
	go s.dq.Run()
	return listen()
}

// Dial returns the connection ConnectTo gives for addr: the loopback one
// for an address of this messenger, the registered one, or (anon: always)
// a new one from the Dialer, registered, then started outside the lock.
func (s *Shell) Dial(t gomsgr.EntityType, addr gomsgr.EntityAddr, anon bool) (*Conn, error) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil, gomsgr.ErrShutdown
	}
	if !s.started {
		s.mu.Unlock()
		return nil, gomsgr.ErrNotStarted
	}
	if !anon {
		for _, a := range s.addrs {
			if a.Addr == addr.Addr && (addr.Nonce == 0 || addr.Nonce == a.Nonce) {
				s.mu.Unlock()
				return s.loop, nil
			}
		}
		if c := s.reg.Lookup(KeyOf(addr)); c != nil {
			s.mu.Unlock()
			return c, nil
		}
	}
	c := s.dialer.NewConn(t, addr, s.addrs)
	if anon {
		s.reg.AddAnon(c)
	} else {
		s.reg.Register(c.key, c)
	}
	s.mu.Unlock()
	if err := s.dialer.StartConn(c); err != nil {
		s.Unregister(c)
		return nil, fmt.Errorf("%s: %w", s.cfg.Prefix, err)
	}
	return c, nil
}

// DialAnon opens a new anonymous connection to addr (Dial with anon) and
// returns the implementation's connection, of type C.
func DialAnon[C gomsgr.Connection](s *Shell, t gomsgr.EntityType, addr gomsgr.EntityAddr) (C, error) {
	c, err := s.Dial(t, addr, true)
	if err != nil {
		var zero C
		return zero, err
	}
	return c.Self.(C), nil
}

// MarkDown closes the connection to addr, if any.
func (s *Shell) MarkDown(addr gomsgr.EntityAddr) {
	s.mu.Lock()
	c := s.reg.Lookup(KeyOf(addr))
	s.mu.Unlock()
	if c != nil {
		c.MarkDown()
	}
}

// MarkDownAll closes every connection.
func (s *Shell) MarkDownAll() {
	s.mu.Lock()
	all := s.reg.All()
	s.mu.Unlock()
	for _, c := range all {
		c.MarkDown()
	}
}

// Unregister forgets c.
func (s *Shell) Unregister(c *Conn) {
	s.mu.Lock()
	s.reg.Unregister(c.key, c)
	s.mu.Unlock()
}

// AdmitAccepted takes a handshake slot for a socket the listener just
// accepted, before a connection is made for it; false means the messenger
// has MaxHandshaking accepted connections that are not ready yet: the
// caller closes the socket at once and counts perf.HandshakesRefused. A
// slot taken is given to the connection by AddAccepted and given back when
// it becomes ready or closes (HandshakeDone).
func (s *Shell) AdmitAccepted() bool {
	n := s.handshaking.Add(1)
	if limit := s.cfg.MaxHandshaking; limit > 0 && n > int64(limit) {
		s.handshaking.Add(-1)
		return false
	}
	return true
}

// Handshaking returns the number of accepted connections that are not
// ready yet (they hold handshake slots).
func (s *Shell) Handshaking() int64 { return s.handshaking.Load() }

// HandshakeDone gives c's handshake slot back, if it holds one: it became
// ready, lost its socket or closed. Any goroutine; only the first call
// acts.
func (s *Shell) HandshakeDone(c *Conn) {
	if c.handshaking.Swap(false) {
		s.handshaking.Add(-1)
	}
}

// AddAccepted registers a connection accepted by the listener, which
// takes the slot AdmitAccepted took; false means the messenger is stopping
// (the slot is given back, the caller drops the socket).
func (s *Shell) AddAccepted(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		s.handshaking.Add(-1)
		return false
	}
	c.handshaking.Store(true)
	s.reg.AddAccepting(c)
	return true
}

// Existing is the server side's decision when the peer of the accepted
// connection c asks for a session (CLIENT_IDENT or SESSION_RECONNECT): it
// looks up the messenger's connection to that peer and decides with Ceph's
// table (session.Decide) on the snapshot snap takes of it (called with its
// Mu held). A replace verdict marks the existing connection Replacing, so
// that no other socket can take it meanwhile, and returns it; a lossy
// existing session is dropped and failed with a reset event; an existing
// session that only needs to hear from its peer gets a keepalive.
func (s *Shell) Existing(c *Conn, req *session.Request, resetCheck bool, snap func(ex *Conn) session.Existing) (*Conn, session.Verdict) {
	s.InjectDelay()
	me := s.MyAddr()
	var ex *Conn
	var v session.Verdict
	s.mu.Lock()
	if len(req.Addrs) > 0 {
		ex = s.reg.Lookup(KeyOf(req.Addrs[0]))
	}
	if ex == c {
		ex = nil
	}
	if ex == nil {
		v = session.Decide(req, nil, me, resetCheck)
	} else {
		ex.Mu.Lock()
		e := snap(ex)
		if ex.MarkedDown.Load() {
			e.State = session.ExClosed
		}
		v = session.Decide(req, &e, me, resetCheck)
		if v.Kind == session.VerdictReplace {
			ex.Replacing = true
		}
		ex.Mu.Unlock()
		if v.StopExisting {
			s.reg.Drop(ex.key, ex) // the new connection takes its place
		}
	}
	s.mu.Unlock()
	switch {
	case v.StopExisting:
		ex.Ops.Fail(fmt.Errorf("%s: lossy session replaced by a new one from %v", s.cfg.Prefix, req.Addrs))
	case v.KeepaliveExisting:
		_ = ex.SendKeepalive() // an error means it closed meanwhile: nothing to keep alive
	}
	if l := s.cfg.Logger; l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug(s.cfg.Prefix+": session request", "peer", fmt.Sprint(req.Addrs), "reconnect", req.Reconnect,
			"verdict", v.Kind.String(), "existing", ex != nil)
	}
	if v.Kind != session.VerdictReplace {
		ex = nil
	}
	return ex, v
}

// ConnReady runs when c's handshake completed: an accepted connection is
// registered by its peer's address (or as anonymous), and the handlers get
// HandleConnect or HandleAccept. It returns an error if another open
// connection to the same peer registered meanwhile (a race with
// ConnectTo): the caller then closes c, and the existing one is kept
// (Ceph's accept_conn refusing).
func (s *Shell) ConnReady(c *Conn, pol gomsgr.Policy) error {
	c.Mu.Lock()
	role, addrs := c.Role, c.PeerAddrs
	c.Mu.Unlock()
	ev := EvConnect
	if role == session.Server {
		s.HandshakeDone(c)
		ev = EvAccept
		s.mu.Lock()
		s.reg.Accepted(c)
		if c.St.Load() == Closed {
			s.mu.Unlock()
			return nil
		}
		if len(addrs) > 0 && (!pol.Lossy || pol.RegisterLossyClients) {
			k := KeyOf(addrs[0])
			if old := s.reg.Lookup(k); old != nil && old != c && old.Open() {
				s.mu.Unlock()
				return fmt.Errorf("%s: a connection to %v registered meanwhile", s.cfg.Prefix, addrs[0])
			}
			c.key = k
			s.reg.Register(k, c)
		} else {
			s.reg.AddAnon(c)
		}
		s.mu.Unlock()
	}
	s.QueueEvent(c, ev)
	return nil
}

// ConnClosed runs once per connection after it closed: it is forgotten,
// and with notify the handlers hear of it (HandleReset, or HandleRefused
// for a refused connect), as Ceph's fault path reports it.
func (s *Shell) ConnClosed(c *Conn, prev State, err error, notify bool) {
	s.HandshakeDone(c)
	s.Unregister(c)
	if !notify {
		return
	}
	s.faults.Add(1)
	level := slog.LevelDebug
	if peerBrokeProtocol(err) {
		level = slog.LevelWarn // the peer broke the protocol: say so
	}
	c.Mu.Lock()
	role, target := c.Role, c.Target
	c.Mu.Unlock()
	s.cfg.Logger.Log(context.Background(), level, s.cfg.Prefix+": connection closed",
		"peer", target.String(), "state", prev.String(), "err", err)
	switch {
	case prev == Ready:
		s.QueueEvent(c, EvReset)
	case role == session.Client && errors.Is(err, syscall.ECONNREFUSED):
		s.QueueEvent(c, EvRefused)
	case role == session.Client:
		s.QueueEvent(c, EvReset)
	}
}

// peerBrokeProtocol reports whether err says the peer broke the msgr2
// protocol (worth a warning), rather than a network failure.
func peerBrokeProtocol(err error) bool {
	var fe *msgr2.FrameError
	return errors.As(err, &fe) || errors.Is(err, session.ErrProtocol) || errors.Is(err, session.ErrAuth) ||
		errors.Is(err, session.ErrPeerType) || errors.Is(err, session.ErrMissingFeatures) ||
		errors.Is(err, msgr2.ErrBadBanner) || errors.Is(err, msgr2.ErrV1Banner)
}

// Faults returns the number of connections closed by a fault.
func (s *Shell) Faults() uint64 { return s.faults.Load() }

// QueueEvent queues a connection event for the handlers, in order with
// the messages.
func (s *Shell) QueueEvent(c *Conn, ev ConnEvent) {
	if len(s.chain.Handlers) == 0 {
		return
	}
	s.dq.Enqueue(gomsgr.PrioHighest, Item{Conn: c, Ev: ev})
}

// Deliver hands a received message to a fast dispatcher on the calling
// goroutine (c's owner) or queues it for the slow ones; h is given back
// once it is dispatched. No connection lock may be held: a fast
// dispatcher may send on c.
func (s *Shell) Deliver(c *Conn, msg *gomsgr.Message, h Held) {
	for _, f := range s.chain.Fast {
		if !f.CanFastDispatch(msg) {
			continue
		}
		// Label the callback in CPU profiles (no allocation: the label
		// sets are made once per worker).
		if l := c.Labels; l != nil {
			pprof.SetGoroutineLabels(l.Fast)
		}
		tick := c.fastTick
		c.fastTick++
		if c.PC != nil && s.Sampled(tick) {
			// A sampled callback stands for SampleEvery of them.
			start := clock.Now()
			f.FastDispatch(msg)
			c.PC.AddTime(perf.RunningFastDispatchTime, clock.Since(start)*s.SampleEvery())
		} else {
			f.FastDispatch(msg)
		}
		if l := c.Labels; l != nil {
			pprof.SetGoroutineLabels(l.Worker)
		}
		h.Release()
		return
	}
	if !s.dq.Enqueue(uint16(prioq.Clamp(msg.Priority)), Item{M: msg, Conn: c, Held: h}) {
		h.Release()
		msg.Release()
	}
}

func (s *Shell) deliverLoopback(c *Conn, msg *gomsgr.Message) error {
	if s.Stopping() {
		return gomsgr.ErrShutdown
	}
	msg.Src = s.cfg.Name
	msg.Conn = c.Self
	s.Deliver(c, msg, Held{})
	return nil
}

// DiscardQueued drops c's messages still waiting for the dispatcher (a
// session reset: the application must not see them after the event).
func (s *Shell) DiscardQueued(c *Conn) {
	for _, it := range s.dq.Discard(func(it Item) bool { return it.Conn == c && it.M != nil }) {
		it.Held.Release()
		it.M.Release()
	}
}

// dispatch runs on the dispatch queue's goroutine.
func (s *Shell) dispatch(it Item) {
	if it.M != nil {
		defer it.Held.Release()
		if !s.chain.Dispatch(it.M) {
			s.cfg.Logger.Warn(s.cfg.Prefix+": message not dispatched", "type", it.M.Type, "from", it.M.Src.String())
			it.M.Release()
		}
		return
	}
	s.chain.Event(it.Conn.Self, it.Ev)
}

// DispatchQueueLen returns the number of items waiting for dispatch.
func (s *Shell) DispatchQueueLen() int { return s.dq.Len() }

// Shutdown is the skeleton of Messenger.Shutdown: mark stopping, stop
// accepting (stopListener), mark every connection down, wait for the
// connections' owners (waitConns), stop dispatching (queued messages are
// released), then stop what the messenger owns (stopRest). A second call
// waits for the first.
func (s *Shell) Shutdown(ctx context.Context, stopListener, waitConns, stopRest func(context.Context) error) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return s.Wait(ctx)
	}
	s.stopping = true
	s.stopFlag.Store(true)
	started := s.started
	s.mu.Unlock()
	errs := []error{stopListener(ctx)}
	s.MarkDownAll()
	errs = append(errs, waitConns(ctx))
	if started {
		for _, it := range s.dq.Stop() {
			if it.M != nil {
				it.Held.Release()
				it.M.Release()
			}
		}
		select {
		case <-s.dq.Done():
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
	}
	errs = append(errs, stopRest(ctx))
	close(s.done)
	return errors.Join(errs...)
}

// Wait blocks until Shutdown completed or ctx ends.
func (s *Shell) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EachConn calls f with every registered connection and where it is
// registered, outside the lock (for dumps).
func (s *Shell) EachConn(f func(c *Conn, where string)) {
	type entry struct {
		c     *Conn
		where string
	}
	var all []entry
	s.mu.Lock()
	s.reg.Each(func(c *Conn, where string) { all = append(all, entry{c, where}) })
	s.mu.Unlock()
	for _, e := range all {
		f(e.c, e.where)
	}
}

// randNonce returns a random nonzero nonce.
func randNonce() uint32 { return rand.Uint32() | 1 }
