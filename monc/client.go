package monc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Errors callers branch on.
var (
	// ErrClosed: the client was closed while the request waited.
	ErrClosed = errors.New("monc: client closed")
	// ErrNoSession: no session with the mon could be established within
	// Options.ReadyTimeout. The error wraps the last connection failure.
	ErrNoSession = errors.New("monc: no session with the mon")
)

// Options configures a Client. Zero fields take the defaults in their
// comments (Ceph's MonClient settings where it has one).
type Options struct {
	// Addr is the mon's msgr2 address (its v2 address in the monmap, such
	// as 127.0.0.1:3300). The mon checks that the address a client says it
	// dialled is one of its own, so give the advertised address. Required.
	Addr netip.AddrPort
	// FSID is the cluster fsid that MMonCommand carries. When zero, the
	// client learns it from the monmap (MMonGetMap) on its first session.
	FSID msgr2.UUID
	// Name is the entity to authenticate as (default "client.admin"; the
	// ceph CLI's --name).
	Name string
	// Key is Name's cephx secret. With it (or Keyring) the client
	// authenticates with cephx; without both it uses auth none.
	Key *cephx.Key
	// Keyring is a keyring file (or Ceph's comma-separated list of them)
	// to read Name's key from when Key is nil (the ceph CLI's --keyring).
	Keyring string
	// Auth, when set, replaces what Name, Key and Keyring configure: the
	// methods and connection modes to offer (see package auth).
	Auth *auth.Config
	// Driver is the event-loop driver: "epoll" (default) or "uring", which
	// needs the program to import driver/uring (see package center).
	Driver string
	// Workers is the number of messenger workers (default 1: one session).
	Workers int
	// Spin is the workers' spin before they sleep (center.Config.Spin;
	// zero is the center's default, negative disables it).
	Spin time.Duration
	// NoRevision1 offers msgr2.0 framing only, so the session runs without
	// msgr2.1's frame format (for interop tests).
	NoRevision1 bool
	// ReadyTimeout bounds one connect + handshake, and how long requests
	// wait for a session before they fail with ErrNoSession (default 10s,
	// ms_connection_ready_timeout).
	ReadyTimeout time.Duration
	// KeepaliveInterval is how often a KEEPALIVE2 goes to the mon
	// (mon_client_ping_interval, default 10s); negative disables them.
	KeepaliveInterval time.Duration
	// IdleTimeout drops a session that read nothing for that long
	// (mon_client_ping_timeout, default 30s); the next session replaces it.
	IdleTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between session attempts
	// (default 50ms doubling to 1s).
	RetryMin, RetryMax time.Duration
	// Logger receives session changes at debug level (default
	// slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "client.admin"
	}
	if o.Driver == "" {
		o.Driver = "epoll"
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 50 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(time.Second, o.RetryMin)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// authConfig returns the messenger's authentication: Auth, or cephx with
// Key or the key found in Keyring, or nil (auth none).
func (o Options) authConfig() (*auth.Config, error) {
	switch {
	case o.Auth != nil:
		return o.Auth, nil
	case o.Key != nil:
		return &auth.Config{Name: o.Name, Key: o.Key}, nil
	case o.Keyring != "":
		k, _, err := FindKey(o.Keyring, o.Name)
		if err != nil {
			return nil, err
		}
		return &auth.Config{Name: o.Name, Key: &k}, nil
	}
	return nil, nil
}

// Stats counts sessions, for tests and dumps.
type Stats struct {
	// Sessions is the number of sessions that completed the handshake.
	Sessions uint64
	// Faults is the number of sessions (or attempts) that failed.
	Faults uint64
	// Resent is the number of requests sent again on a newer session.
	Resent uint64
	// Renewals is the number of cephx ticket renewals the mon answered.
	Renewals uint64
}

// Client is a mon client. Its methods are safe for concurrent use.
//
// Lock order: Client.mu, then the messenger's locks (SendMessage and
// ConnectTo are called with mu held; the messenger never calls back into the
// client with its own locks held).
type Client struct {
	opts   Options
	stack  *center.Stack
	msgr   *conn.Messenger
	target gomsgr.EntityAddr
	log    *slog.Logger
	stopKA chan struct{}
	kaDone chan struct{}

	mu        sync.Mutex
	cur       gomsgr.Connection // the session being opened or open; nil when none
	ready     bool              // cur completed its handshake
	readyCh   chan struct{}     // closed when a session is ready and the fsid known
	downSince time.Time         // when requests started waiting for a session
	lastErr   error             // why the last session or attempt failed
	backoff   time.Duration
	retry     *time.Timer // pending session attempt
	giveUp    *time.Timer // fails the waiting requests at downSince+ReadyTimeout
	fsid      msgr2.UUID
	haveFSID  bool
	monEpoch  uint32
	tid       uint64
	calls     map[uint64]*call
	closed    bool
	stats     Stats

	auth authState // cephx tickets and rotating secrets (tickets.go)
}

// New creates a client and starts its messenger. It does not connect: the
// first request (or Connect) opens the session.
func New(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if !opts.Addr.IsValid() {
		return nil, errors.New("monc: Options.Addr is required")
	}
	c := &Client{
		opts:    opts,
		target:  gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: opts.Addr},
		log:     opts.Logger,
		calls:   map[uint64]*call{},
		readyCh: make(chan struct{}),
		stopKA:  make(chan struct{}),
		kaDone:  make(chan struct{}),
	}
	if opts.FSID != (msgr2.UUID{}) {
		c.fsid, c.haveFSID = opts.FSID, true
	}
	// The client owns the stack (rather than the messenger) so that it can
	// tell which driver runs after a fallback.
	stack, err := center.NewStack(center.StackConfig{
		Name:    "monc",
		Workers: opts.Workers,
		Center:  center.Config{Driver: opts.Driver, Spin: opts.Spin, Logger: opts.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("monc: %w", err)
	}
	c.stack = stack
	var testing *testhooks.Config
	if opts.NoRevision1 {
		testing = &testhooks.Config{NoRevision1: true}
	}
	ac, err := opts.authConfig()
	if err != nil {
		return nil, errors.Join(err, stack.Stop(context.Background()))
	}
	ac = c.setupAuth(ac)
	m, err := conn.NewMessenger(conn.Options{
		Auth:         ac,
		Name:         gomsgr.EntityName{Type: gomsgr.EntityClient, Num: -1},
		Stack:        stack,
		ReadyTimeout: opts.ReadyTimeout,
		IdleTimeout:  opts.IdleTimeout,
		Logger:       opts.Logger,
		Testing:      testing,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("monc: %w", err), stack.Stop(context.Background()))
	}
	err = m.SetDefaultPolicy(gomsgr.LossyClient(0))
	if err == nil {
		err = m.AddDispatcher(dispatcher{c})
	}
	if err == nil {
		err = m.Start()
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("monc: %w", err), m.Shutdown(context.Background()), stack.Stop(context.Background()))
	}
	c.msgr = m
	c.startMaintenance()
	if opts.KeepaliveInterval > 0 {
		go c.keepalive()
	} else {
		close(c.kaDone)
	}
	return c, nil
}

// Dial creates a client and waits until its first session is open and the
// fsid known (see Connect). On failure nothing is left running.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// Connect opens a session if there is none and waits until it is ready and
// the fsid is known. It fails with ErrNoSession (wrapping the cause: refused,
// closed during the handshake, ready timeout, protocol error) when the
// session cannot be established within Options.ReadyTimeout, or with ctx's
// error.
func (c *Client) Connect(ctx context.Context) error {
	// Connect drives a request (get_version monmap), so that the session
	// attempts and the ready timeout work as for any request; waiting for
	// readyCh alone would wait forever for a mon that is not there.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.ready && c.haveFSID {
		c.mu.Unlock()
		return nil
	}
	ch := c.readyCh
	c.mu.Unlock()
	errc := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _, err := c.GetVersion(cctx, "monmap")
		errc <- err
	}()
	select {
	case <-ch:
		return nil
	case err := <-errc:
		if err != nil {
			return err
		}
		// The reply came: the session is ready; wait for the monmap too.
		t := time.NewTimer(c.opts.ReadyTimeout)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-t.C:
			return fmt.Errorf("%w at %v: the mon sent no usable monmap (no fsid) within %v", ErrNoSession, c.opts.Addr, c.opts.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// FSID returns the cluster fsid (zero until known) and the epoch of the
// monmap it came from (0 when it was given in Options).
func (c *Client) FSID() (msgr2.UUID, uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fsid, c.monEpoch
}

// Stats returns the session counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Messenger returns the client's messenger (for dumps and tests).
func (c *Client) Messenger() *conn.Messenger { return c.msgr }

// Close fails the requests still waiting with ErrClosed and shuts the
// messenger down.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.stopTimersLocked()
	c.failAllLocked(ErrClosed)
	c.cur = nil
	c.mu.Unlock()
	close(c.stopKA)
	<-c.kaDone
	<-c.auth.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(c.msgr.Shutdown(ctx), c.stack.Stop(ctx))
}

// Driver returns the event-loop driver in use ("uring" may have fallen
// back to "epoll" when the kernel refused io_uring).
func (c *Client) Driver() string {
	return c.stack.Workers()[0].Center().DriverName()
}

// ensureSessionLocked starts a session attempt unless one is open, under
// way, or scheduled.
func (c *Client) ensureSessionLocked() {
	if c.closed || c.cur != nil || c.retry != nil {
		return
	}
	c.armLocked()
	cn, err := c.msgr.ConnectTo(gomsgr.EntityMon, c.target)
	if err != nil {
		c.attemptFailedLocked(err)
		return
	}
	c.cur = cn
	go c.awaitSession(cn)
	if !c.haveFSID || c.monEpoch == 0 {
		// The monmap tells the fsid (and the epoch); Ceph's MonClient asks
		// for it first on every new session too.
		if err := cn.SendMessage(gomsgr.Encode(&msgr2.MonGetMap{})); err != nil {
			c.log.Debug("monc: MMonGetMap", "err", err)
		}
	}
	c.flushLocked()
}

// armLocked starts the ready timeout for the requests that wait for a
// session, unless it runs already.
func (c *Client) armLocked() {
	if c.downSince.IsZero() && !c.ready {
		c.downSince = time.Now()
		c.giveUp = time.AfterFunc(c.opts.ReadyTimeout, c.onGiveUp)
	}
}

// attemptFailedLocked records a failed session or attempt and schedules
// the next attempt, unless nobody waits or the ready timeout is near (then
// onGiveUp fails the waiting requests).
func (c *Client) attemptFailedLocked(err error) {
	c.lastErr = err
	c.stats.Faults++
	if c.closed {
		return
	}
	if errors.Is(err, gomsgr.ErrAuth) {
		// The mon refused our credentials (or we refused the mon's): a
		// retry would be refused too. Fail the waiting requests now; the
		// next request tries again.
		c.failAllLocked(fmt.Errorf("%w at %v: %w", ErrNoSession, c.opts.Addr, err))
		c.idleLocked()
		return
	}
	if len(c.calls) == 0 {
		// Nobody waits: the next request reconnects.
		c.idleLocked()
		return
	}
	switch {
	case c.backoff == 0:
		c.backoff = c.opts.RetryMin
	case c.backoff < c.opts.RetryMax:
		c.backoff = min(2*c.backoff, c.opts.RetryMax)
	}
	if time.Until(c.downSince.Add(c.opts.ReadyTimeout)) <= c.backoff {
		return // onGiveUp comes first
	}
	c.retry = time.AfterFunc(c.backoff, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.retry = nil
		c.ensureSessionLocked()
	})
}

// onGiveUp runs ReadyTimeout after requests started waiting for a session:
// if there is still none, they fail with the last reason.
func (c *Client) onGiveUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.downSince.IsZero() || time.Since(c.downSince) < c.opts.ReadyTimeout {
		return // a session opened meanwhile (or a newer wait began)
	}
	err := c.lastErr
	switch {
	case err == nil:
		err = errors.New("the handshake did not complete (ready timeout)")
	case c.cur != nil:
		err = fmt.Errorf("the handshake did not complete (ready timeout); the attempt before failed: %w", err)
	}
	c.failAllLocked(fmt.Errorf("%w at %v within %v: %w", ErrNoSession, c.opts.Addr, c.opts.ReadyTimeout, err))
	if c.cur == nil {
		c.idleLocked()
	} else {
		// The attempt under way may still succeed; the next request waits
		// for it with a fresh timeout.
		c.downSince = time.Time{}
		c.giveUp = nil
	}
}

// idleLocked forgets the outage: nobody waits for a session.
func (c *Client) idleLocked() {
	c.stopTimersLocked()
	c.downSince = time.Time{}
	c.backoff = 0
}

func (c *Client) stopTimersLocked() {
	if c.retry != nil {
		c.retry.Stop()
		c.retry = nil
	}
	if c.giveUp != nil {
		c.giveUp.Stop()
		c.giveUp = nil
	}
}

// awaitSession waits for cn's handshake: the session opens, or the
// connection tells why it did not (refused, ready timeout, a protocol error
// from the mon). Closing the client marks cn down, which ends the wait.
func (c *Client) awaitSession(cn gomsgr.Connection) {
	if err := cn.WaitReady(context.Background()); err != nil {
		c.sessionFailed(cn, err)
		return
	}
	c.sessionReady(cn)
}

// sessionReady runs when cn completed its handshake.
func (c *Client) sessionReady(cn gomsgr.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn != c.cur {
		return
	}
	c.ready = true
	c.idleLocked()
	c.stats.Sessions++
	c.log.Debug("monc: session open", "mon", c.opts.Addr, "peer", cn.PeerName())
	c.maybeReadyLocked()
	c.kickAuth()
}

func (c *Client) maybeReadyLocked() {
	if c.ready && c.haveFSID {
		select {
		case <-c.readyCh:
		default:
			close(c.readyCh)
		}
	}
}

// sessionFailed runs when cn failed (err, its cause): during the handshake
// (awaitSession), or once open (a reset event). A second report for the
// same connection finds it no longer current and does nothing.
func (c *Client) sessionFailed(cn gomsgr.Connection, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn != c.cur {
		return
	}
	wasReady := c.ready
	c.cur, c.ready = nil, false
	select {
	case <-c.readyCh:
		c.readyCh = make(chan struct{})
	default:
	}
	if err == nil {
		err = errors.New("connection reset")
	}
	if !wasReady {
		err = fmt.Errorf("session not established: %w", err)
		c.log.Debug("monc: session attempt failed", "mon", c.opts.Addr, "err", err)
		c.attemptFailedLocked(err)
		return
	}
	// An open session was lost (the mon restarted, the socket broke, the
	// idle timeout): open the next one at once, as MonClient does, and
	// resend what was not answered.
	c.lastErr = fmt.Errorf("session reset: %w", err)
	c.stats.Faults++
	c.log.Debug("monc: session reset", "mon", c.opts.Addr, "err", err)
	if len(c.calls) > 0 {
		c.ensureSessionLocked()
	}
}

func (c *Client) keepalive() {
	defer close(c.kaDone)
	t := time.NewTicker(c.opts.KeepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stopKA:
			return
		case <-t.C:
		}
		c.mu.Lock()
		cn := c.cur
		ready := c.ready
		c.mu.Unlock()
		if cn != nil && ready {
			// It fails only on a connection marked down; its reset event
			// starts a new session.
			if err := cn.SendKeepalive(); err != nil {
				c.log.Debug("monc: keepalive", "mon", c.opts.Addr, "err", err)
			}
		}
	}
}

// dispatcher receives the mon's messages on the worker (fast dispatch: the
// handlers take the client's lock briefly and never block) and the
// connection events from the dispatch queue.
type dispatcher struct{ c *Client }

func (d dispatcher) CanFastDispatch(m *gomsgr.Message) bool {
	switch m.Type {
	case msgr2.MsgMonCommandAck, msgr2.MsgMonGetVersionReply, msgr2.MsgMonMap, msgr2.MsgAuthReply, msgr2.MsgCommandReply:
		return true
	}
	return false
}

func (d dispatcher) FastDispatch(m *gomsgr.Message) { d.c.handleMessage(m) }

func (d dispatcher) Dispatch(m *gomsgr.Message) bool {
	// Anything else the mon sends unasked (MPing replies, MConfig, ...).
	m.Release()
	return true
}

// The handshake's outcome comes from Connection.WaitReady (awaitSession);
// of the events only a reset matters: an open session was lost.
func (d dispatcher) HandleConnect(gomsgr.Connection)        {}
func (d dispatcher) HandleAccept(gomsgr.Connection)         {}
func (d dispatcher) HandleRemoteReset(cn gomsgr.Connection) {}
func (d dispatcher) HandleReset(cn gomsgr.Connection) bool {
	d.c.mu.Lock()
	d.c.failTellsLocked(cn, cn.Err())
	d.c.mu.Unlock()
	d.c.sessionFailed(cn, cn.Err())
	return true
}
func (d dispatcher) HandleRefused(gomsgr.Connection) bool { return true }
