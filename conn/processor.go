package conn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// errRefused is what a refused connect fails with (errors.Is matches it).
var errRefused = unix.ECONNREFUSED

// maxAcceptBackoff bounds how long accepting pauses after the process ran
// out of file descriptors.
const maxAcceptBackoff = 2 * time.Second

// Processor owns a messenger's listening socket (Ceph's Processor): it binds
// (scanning a port range and retrying), listens, and accepts on a worker
// until EAGAIN, giving each accepted socket to the least-loaded worker.
type Processor struct {
	m       *Messenger
	fd      int
	addr    gomsgr.EntityAddr
	w       *center.Worker
	backoff time.Duration
	paused  bool
	timer   center.Timer
	// accepted counts accepted sockets; acceptErrors failed accepts other
	// than EAGAIN (both read by dumps on other goroutines).
	accepted, acceptErrors atomic.Uint64
}

func newProcessor(m *Messenger, addr netip.AddrPort, avoid []uint16) (*Processor, error) {
	o := m.opts
	var ports []int
	switch {
	case addr.Port() != 0:
		ports = []int{int(addr.Port())}
	case o.BindAnyPort:
		ports = []int{0}
	default:
	scan:
		for p := o.BindPortMin; p <= o.BindPortMax; p++ {
			for _, a := range avoid {
				if int(a) == p {
					continue scan
				}
			}
			ports = append(ports, p)
		}
	}
	var lastErr error
	for try := 0; try <= o.BindRetryCount; try++ {
		if try > 0 {
			o.Logger.Warn("conn: bind failed, retrying", "addr", addr, "err", lastErr, "delay", o.BindRetryDelay)
			time.Sleep(o.BindRetryDelay)
		}
		for _, port := range ports {
			fd, bound, err := listenOn(netip.AddrPortFrom(addr.Addr(), uint16(port)), o.ListenBacklog)
			if err == nil {
				p := &Processor{m: m, fd: fd, addr: msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Nonce: m.nonce.Load(), Addr: bound}}
				p.timer.Init(p.resume)
				return p, nil
			}
			lastErr = err
			if !errors.Is(err, unix.EADDRINUSE) {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("conn: bind %v: no free port in %d tries: %w", addr, o.BindRetryCount+1, lastErr)
}

func listenOn(ap netip.AddrPort, backlog int) (int, netip.AddrPort, error) {
	family := unix.AF_INET
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, ap, fmt.Errorf("conn: socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sockaddr(ap)); err != nil {
		unix.Close(fd)
		return -1, ap, fmt.Errorf("conn: bind %v: %w", ap, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, ap, fmt.Errorf("conn: listen %v: %w", ap, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, ap, fmt.Errorf("conn: getsockname: %w", err)
	}
	return fd, addrPort(sa), nil
}

// Addr returns the bound address.
func (p *Processor) Addr() gomsgr.EntityAddr { return p.addr }

func (p *Processor) start() error {
	p.w = p.m.stack.Pick()
	var err error
	if serr := p.w.Center().Submit(func() {
		err = p.w.Center().AddFile(p.fd, driver.Readable, p.accept)
		if err == nil {
			p.accept(p.fd, driver.Readable)
		}
	}); serr != nil {
		return serr
	}
	return p.w.Center().SubmitWait(context.Background(), func() {})
}

// accept runs on the processor's worker.
func (p *Processor) accept(fd int, _ driver.Mask) {
	for !p.paused {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case unix.EINTR, unix.ECONNABORTED:
				continue
			case unix.EAGAIN:
				p.backoff = 0
				return
			}
			p.acceptErrors.Add(1)
			if err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM {
				// Out of resources: stop reading the listen queue for a
				// while instead of spinning on it.
				p.backoff = min(max(2*p.backoff, 10*time.Millisecond), maxAcceptBackoff)
				p.m.opts.Logger.Warn("conn: accept failed, pausing", "err", err, "pause", p.backoff)
				p.paused = true
				p.w.Center().AddTimer(&p.timer, p.backoff)
				return
			}
			p.m.opts.Logger.Warn("conn: accept failed", "err", err)
			return
		}
		p.accepted.Add(1)
		peer := msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Addr: addrPort(sa)}
		w := p.m.stack.Pick()
		c := newConnection(p.m, w, session.Server, 0, peer, p.m.Addrs())
		if !p.m.addAccepted(c) {
			w.Release()
			unix.Close(nfd)
			continue
		}
		if err := w.Center().Submit(func() { c.accepted(nfd) }); err != nil {
			unix.Close(nfd)
			p.m.unregister(c)
			w.Release()
		}
	}
}

func (p *Processor) resume() {
	p.paused = false
	p.accept(p.fd, driver.Readable)
}

func (p *Processor) stop(ctx context.Context) error {
	if p.w == nil {
		return unix.Close(p.fd)
	}
	err := p.w.Center().SubmitWait(ctx, func() {
		p.w.Center().CancelTimer(&p.timer)
		p.w.Center().DelFile(p.fd, driver.Readable)
		// Stop listening now: with io_uring a pending poll request keeps
		// the file open until its removal is processed, and connects
		// would still be accepted by the kernel meanwhile.
		unix.Shutdown(p.fd, unix.SHUT_RDWR)
		unix.Close(p.fd)
		p.paused = true
	})
	p.w.Release()
	return err
}
