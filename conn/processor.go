package conn

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr/internal/msgrbase"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/perf"
)

// maxAcceptBackoff bounds how long accepting pauses after the process ran
// out of file descriptors.
const maxAcceptBackoff = 2 * time.Second

// Processor owns a messenger's listening socket (Ceph's Processor): it binds
// (a kernel port for port 0, or Ceph's port-range scan with retries),
// listens, and accepts on a worker until EAGAIN, giving each accepted
// socket to the least-loaded worker.
type Processor struct {
	m       *Messenger
	sock    socket
	addr    gomsgr.EntityAddr
	w       *center.Worker
	backoff time.Duration
	paused  bool
	pc      *perf.Counters // its worker's (nil: counting off)
	timer   center.Timer
	// accepted counts accepted sockets; acceptErrors failed accepts other
	// than EAGAIN (both read by dumps on other goroutines).
	accepted, acceptErrors atomic.Uint64
}

func newProcessor(ctx context.Context, m *Messenger, addr netip.AddrPort, avoid []uint16) (*Processor, error) {
	type bound struct {
		s  socket
		ap netip.AddrPort
	}
	l, err := msgrbase.Bind(ctx, m.sh.BindConfig(), addr, avoid, func(ap netip.AddrPort) (bound, error) {
		s, got, err := listenSocket(ap, m.opts.ListenBacklog)
		return bound{s, got}, err
	})
	if err != nil {
		return nil, err
	}
	p := &Processor{m: m, sock: l.s, addr: gomsgr.Msgr2Addr(l.ap)}
	p.addr.Nonce = m.sh.Nonce()
	p.timer.Init(p.resume)
	return p, nil
}

// Addr returns the bound address.
func (p *Processor) Addr() gomsgr.EntityAddr { return p.addr }

func (p *Processor) start() error {
	p.w = p.m.stack.Pick()
	if !p.m.opts.NoCounters {
		p.pc = p.m.sh.Perf().Worker(p.w.ID())
	}
	var err error
	if serr := p.w.Center().Submit(func() {
		err = p.w.Center().AddFile(p.sock.fd, driver.Readable, p.accept)
		if err == nil {
			p.accept(p.sock.fd, driver.Readable)
		}
	}); serr != nil {
		return serr
	}
	// The wait orders err's write on the worker before its read here.
	if werr := p.w.Center().SubmitWait(context.Background(), func() {}); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("conn: listen: %w", err)
	}
	return nil
}

// accept runs on the processor's worker.
func (p *Processor) accept(fd int, _ driver.Mask) {
	for !p.paused {
		ns, peerAP, res, err := acceptSocket(fd)
		if err != nil {
			switch res {
			case acceptRetry:
				continue
			case acceptDrained:
				p.backoff = 0
				return
			case acceptStarved:
				// Out of resources: stop reading the listen queue for a
				// while instead of spinning on it.
				p.acceptErrors.Add(1)
				p.backoff = min(max(2*p.backoff, 10*time.Millisecond), maxAcceptBackoff)
				p.m.sh.Logger().Warn("conn: accept failed, pausing", "err", err, "pause", p.backoff)
				p.paused = true
				p.w.Center().AddTimer(&p.timer, p.backoff)
				return
			}
			p.acceptErrors.Add(1)
			p.m.sh.Logger().Warn("conn: accept failed", "err", err)
			return
		}
		p.accepted.Add(1)
		if !p.m.sh.AdmitAccepted() {
			// Too many accepted connections are not ready yet
			// (MaxHandshaking): refuse this one at once.
			p.pc.Inc(perf.HandshakesRefused)
			ns.Close()
			continue
		}
		peer := gomsgr.Msgr2Addr(peerAP)
		w := p.m.stack.Pick()
		c := newConnection(p.m, w, session.Server, 0, peer, p.m.Addrs())
		if !p.m.sh.AddAccepted(&c.core) {
			w.Release()
			ns.Close()
			continue
		}
		if err := w.Center().Submit(func() { c.accepted(ns) }); err != nil {
			ns.Close()
			p.m.sh.HandshakeDone(&c.core)
			p.m.sh.Unregister(&c.core)
			w.Release()
		}
	}
}

func (p *Processor) resume() {
	p.paused = false
	p.accept(p.sock.fd, driver.Readable)
}

func (p *Processor) stop(ctx context.Context) error {
	if p.w == nil {
		p.sock.Close()
		return nil
	}
	err := p.w.Center().SubmitWait(ctx, func() {
		p.w.Center().CancelTimer(&p.timer)
		_ = p.w.Center().DelFile(p.sock.fd, driver.Readable) // the close ends it anyway
		// Stop listening now: with io_uring a pending poll request keeps
		// the file open until its removal is processed, and connects
		// would still be accepted by the kernel meanwhile.
		p.sock.Close()
		p.paused = true
	})
	p.w.Release()
	return err
}
