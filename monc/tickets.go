package monc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/msgr2"
)

// Tickets and rotating secrets. With cephx, the client keeps its tickets
// fresh over the open session (Ceph's MonClient::_check_auth_tickets and
// _check_auth_rotating): a goroutine wakes when the next ticket falls due
// (three quarters into its validity) and renews it in an MAuth; a daemon
// (an osd, mds or mgr name) also fetches the rotating secrets of its
// service type, which open the tickets clients present to it, and
// fetches them again before the current one expires. One MAuth is in
// flight at a time: MAuthReply carries no transaction id.

// maxTicketWait bounds the maintenance goroutine's sleep, so that a
// session opened meanwhile, or a clock jump, is noticed.
const maxTicketWait = 30 * time.Second

// ErrNoCephx means the client does not authenticate with cephx, so it
// has no tickets to renew.
var ErrNoCephx = errors.New("monc: not using cephx")

// authState is the client's cephx state besides the session.
type authState struct {
	key      *cephx.Key // nil: auth none
	tickets  *auth.Tickets
	rotating *auth.Rotating // daemons only
	service  uint32         // the daemon's service type (Entity* bit)
	kick     chan struct{}  // wakes the maintenance goroutine
	done     chan struct{}
	reqMu    chan struct{}            // one MAuth in flight: a one-slot semaphore
	replies  chan *msgr2.MonAuthReply // the answer to the MAuth in flight
}

// setupAuth fills in the client's cephx state for the messenger's auth
// configuration ac (nil: auth none) and returns the configuration to use.
func (c *Client) setupAuth(ac *auth.Config) *auth.Config {
	a := &c.auth
	a.kick, a.done = make(chan struct{}, 1), make(chan struct{})
	a.reqMu, a.replies = make(chan struct{}, 1), make(chan *msgr2.MonAuthReply, 1)
	if ac == nil || ac.Key == nil {
		return ac
	}
	cp := *ac
	if cp.Tickets == nil {
		cp.Tickets = auth.NewTickets()
	}
	a.key, a.tickets = cp.Key, cp.Tickets
	if t, _, ok := splitType(cp.Name); ok && (t == cephx.EntityOSD || t == cephx.EntityMDS || t == cephx.EntityMgr) {
		a.rotating, a.service = auth.NewRotating(), t
	}
	return &cp
}

func splitType(name string) (uint32, string, bool) {
	for _, t := range []struct {
		p string
		t uint32
	}{{"osd.", cephx.EntityOSD}, {"mds.", cephx.EntityMDS}, {"mgr.", cephx.EntityMgr}, {"client.", cephx.EntityClient}, {"mon.", cephx.EntityMon}} {
		if len(name) > len(t.p) && name[:len(t.p)] == t.p {
			return t.t, name[len(t.p):], true
		}
	}
	return 0, "", false
}

// Tickets returns the client's cephx tickets (nil without cephx). Give it
// to another messenger's auth.Config.Tickets and that messenger reaches
// Ceph services (and gomsgr services) with the tickets this client
// renews.
func (c *Client) Tickets() *auth.Tickets { return c.auth.tickets }

// Rotating returns the rotating secrets of the client's service type,
// fetched from the mon, for a daemon name (osd, mds or mgr; nil
// otherwise). Give it to a service messenger's auth.Config.ServiceSecrets
// and it accepts the tickets the mon issues for that service.
func (c *Client) Rotating() *auth.Rotating { return c.auth.rotating }

// RenewTickets renews the auth ticket and every service ticket now, even
// before they are due, and, for a daemon, fetches the rotating secrets
// again. It opens a session if there is none.
func (c *Client) RenewTickets(ctx context.Context) error {
	if c.auth.key == nil {
		return ErrNoCephx
	}
	if err := c.Connect(ctx); err != nil {
		return err
	}
	if err := c.renew(ctx, true); err != nil {
		return err
	}
	return c.fetchRotating(ctx, true)
}

// startMaintenance starts the goroutine that renews tickets (with cephx).
func (c *Client) startMaintenance() {
	if c.auth.key == nil {
		close(c.auth.done)
		return
	}
	go c.maintain()
}

// maintain renews tickets and rotating secrets while the client lives.
func (c *Client) maintain() {
	defer close(c.auth.done)
	t := time.NewTimer(maxTicketWait)
	defer t.Stop()
	for {
		select {
		case <-c.stopKA:
			return
		case <-c.auth.kick:
		case <-t.C:
		}
		wait := c.maintainOnce()
		t.Reset(wait)
	}
}

// maintainOnce renews what is due on an open session and returns how long
// to sleep until the next check.
func (c *Client) maintainOnce() time.Duration {
	c.mu.Lock()
	ready := c.ready && c.cur != nil
	c.mu.Unlock()
	if !ready {
		return maxTicketWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReadyTimeout)
	defer cancel()
	wait := maxTicketWait
	if err := c.renew(ctx, false); err != nil {
		c.log.Warn("monc: ticket renewal failed", "mon", c.opts.Addr, "err", err)
		wait = time.Second
	}
	if err := c.fetchRotating(ctx, false); err != nil {
		c.log.Warn("monc: rotating secrets not fetched", "mon", c.opts.Addr, "err", err)
		wait = time.Second
	}
	if _, next := c.auth.tickets.Need(auth.WantKeys|cephx.EntityAuth, time.Now()); !next.IsZero() {
		wait = min(wait, max(time.Until(next), 10*time.Millisecond))
	}
	if r := c.auth.rotating; r != nil {
		if cur, ok := r.Current(c.auth.service); ok {
			wait = min(wait, max(time.Until(cur.Expiration.Time()), time.Second))
		}
	}
	return wait
}

// renew sends what is due: the auth ticket's renewal, then one request
// for the service tickets still needed. A service the mon issues no
// ticket for (no caps for it) is asked for again only at the next check,
// not in a loop.
func (c *Client) renew(ctx context.Context, forced bool) error {
	var force uint32
	if forced {
		force = auth.WantKeys | cephx.EntityAuth
	}
	for range 2 {
		req, err := c.auth.tickets.RenewRequest(*c.auth.key, auth.WantKeys, time.Now(), force)
		if err != nil || req == nil {
			return err
		}
		rep, err := c.authRequest(ctx, req)
		if err != nil {
			return err
		}
		if err := c.auth.tickets.HandleReply(*c.auth.key, rep.Payload, time.Now()); err != nil {
			return err
		}
		c.stat(func(s *Stats) { s.Renewals++ })
		if binary.LittleEndian.Uint16(req) != cephx.GetAuthSessionKey {
			return nil // the service tickets: done until the next check
		}
		force &^= cephx.EntityAuth // renewed: the service tickets next
	}
	return nil
}

// fetchRotating fetches a daemon's rotating secrets when it has none or
// the current one expired (or when forced).
func (c *Client) fetchRotating(ctx context.Context, force bool) error {
	r := c.auth.rotating
	if r == nil {
		return nil
	}
	if cur, ok := r.Current(c.auth.service); ok && !force && time.Now().Before(cur.Expiration.Time()) {
		return nil
	}
	rep, err := c.authRequest(ctx, cephx.AppendRotatingRequest(nil))
	if err != nil {
		return err
	}
	s, err := cephx.ParseRotatingReply(rep.Payload, *c.auth.key)
	if err != nil {
		return fmt.Errorf("monc: rotating secrets: %w", err)
	}
	r.Set(c.auth.service, s)
	return nil
}

// authRequest sends one MAuth on the current session and waits for its
// MAuthReply. A negative result fails with the errno.
func (c *Client) authRequest(ctx context.Context, payload []byte) (*msgr2.MonAuthReply, error) {
	select {
	case c.auth.reqMu <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.auth.reqMu }()
	select { // a late answer to an earlier request that timed out
	case <-c.auth.replies:
	default:
	}
	c.mu.Lock()
	cn := c.cur
	ready := c.ready
	c.mu.Unlock()
	if cn == nil || !ready {
		return nil, fmt.Errorf("%w at %v", ErrNoSession, c.opts.Addr)
	}
	m := &msgr2.MonAuth{Paxos: msgr2.PaxosHeader{SessionMon: -1}, Protocol: uint32(msgr2.AuthCephx), Payload: payload}
	if err := cn.SendMessage(gomsgr.Encode(m)); err != nil {
		return nil, fmt.Errorf("monc: MAuth: %w", err)
	}
	t := time.NewTimer(c.opts.ReadyTimeout)
	defer t.Stop()
	select {
	case rep := <-c.auth.replies:
		if rep.Result < 0 {
			return nil, fmt.Errorf("monc: MAuth refused: %w (%s)", syscall.Errno(-rep.Result), rep.Msg)
		}
		return rep, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("monc: no MAuthReply within %v", c.opts.ReadyTimeout)
	}
}

// handleAuthReply runs on the worker: it hands the answer to the waiting
// request (Payload is copied: the message's buffer is released).
func (c *Client) handleAuthReply(p *msgr2.MonAuthReply) {
	rep := *p
	rep.Payload = append([]byte(nil), p.Payload...)
	select {
	case c.auth.replies <- &rep:
	default:
		c.log.Debug("monc: an MAuthReply nobody waits for", "result", p.Result)
	}
}

// kickAuth wakes the maintenance goroutine (a session opened).
func (c *Client) kickAuth() {
	select {
	case c.auth.kick <- struct{}{}:
	default:
	}
}

func (c *Client) stat(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}
