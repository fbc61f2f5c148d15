package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/panjf2000/gnet/v2"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/bench/echo"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring", which servers select by name
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/simple"
)

// Server is one running server: its address (for msgr2, "ADDR/NONCE") and a
// stop function.
type Server struct {
	Addr string
	Stop func() error
}

// EchoImpls are the servers of the length-prefixed echo, in table order.
var EchoImpls = []string{
	"std", "gnet", "netpoll", "nbio",
	"gomsgr-epoll-poller", "gomsgr-epoll-thread", "gomsgr-uring-poller", "gomsgr-uring-thread",
	"bench-echo-epoll-poller", "uring-completion",
}

// Msgr2Impls are the servers of the msgr2 echo.
var Msgr2Impls = []string{"simple", "conn-epoll", "conn-uring", "conn-uring-thread", "conn-uring-completion"}

// Serve starts impl's server for proto ("echo" or "msgr2") on addr.
func Serve(impl, proto, addr string) (*Server, error) {
	if proto == "msgr2" {
		return serveMsgr2(impl, addr)
	}
	if proto != "echo" {
		return nil, fmt.Errorf("unknown protocol %q", proto)
	}
	switch impl {
	case "std":
		return serveStd(addr)
	case "gnet":
		return serveGnet(addr)
	case "netpoll":
		return serveNetpoll(addr)
	case "nbio":
		return serveNbio(addr)
	case "bench-echo-epoll-poller":
		// The repo's own bench/echo.Server (gomsgr-perf local's), which
		// gives each connection a 64 KiB buffer: for comparison with
		// loopecho.go's shared buffer.
		return serveEcho(addr, center.StackConfig{Name: "bench-echo", Workers: 1}, echo.ServerOptions{})
	case "uring-completion":
		// Experimental: bench/echo's CompletionServer (io_uring completion
		// mode, no read or write system calls). Not counted as "gomsgr" in
		// the targets until conn uses completion mode.
		s, err := echo.NewCompletionServer(addr, echo.CompletionOptions{Buffers: 4096})
		if err != nil {
			return nil, err
		}
		stop := func() error {
			ctx, cancel := contextTimeout(10 * time.Second)
			defer cancel()
			return s.Close(ctx)
		}
		return &Server{Addr: s.Addr(), Stop: stop}, nil
	}
	if cfg, ok := loopConfig(impl); ok {
		return serveLoop(addr, cfg)
	}
	return nil, fmt.Errorf("unknown echo server %q", impl)
}

// loopConfig parses "gomsgr-DRIVER-WAIT"; the spin budget is the default.
func loopConfig(impl string) (center.Config, bool) {
	f := strings.Split(impl, "-")
	if len(f) != 3 || f[0] != "gomsgr" || (f[1] != "epoll" && f[1] != "uring") {
		return center.Config{}, false
	}
	cfg := center.Config{Driver: f[1]}
	switch f[2] {
	case "poller":
		cfg.Wait = center.WaitPoller
	case "thread":
		cfg.Wait = center.WaitThread
	default:
		return cfg, false
	}
	return cfg, true
}

// freeAddr resolves a port 0 in addr to a port free right now, for the
// peers whose API does not report the port they bound.
func freeAddr(addr string) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", err
	}
	if ap.Port() != 0 {
		return addr, nil
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return "", err
	}
	return ln.Addr().String(), ln.Close() // the port must be free again for the peer
}

// waitListening waits until addr accepts connections.
func waitListening(addr string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err == nil {
			_ = c.Close() // a probe: connecting was all it had to do
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening: %w", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serveStd(addr string) (*Server, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Ends when the peer leaves or Stop closes the listener's
				// side: the Close error has no one to go to.
				defer func() { _ = c.Close() }()
				buf := make([]byte, readBytes)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return &Server{Addr: ln.Addr().String(), Stop: ln.Close}, nil
}

type gnetEcho struct {
	gnet.BuiltinEventEngine
	booted chan gnet.Engine // the engine, once, for Stop
}

func (g *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	g.booted <- eng
	return gnet.None
}

func (*gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func serveGnet(addr string) (*Server, error) {
	addr, err := freeAddr(addr)
	if err != nil {
		return nil, err
	}
	proto := "tcp://" + addr
	errc := make(chan error, 1)
	h := &gnetEcho{booted: make(chan gnet.Engine, 1)}
	go func() {
		errc <- gnet.Run(h, proto, gnet.WithMulticore(true), gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietGnet{}))
	}()
	var eng gnet.Engine
	select {
	case eng = <-h.booted:
	case err := <-errc:
		return nil, fmt.Errorf("gnet: ended before it booted: %v", err)
	}
	if err := waitListening(addr); err != nil {
		select {
		case e := <-errc:
			return nil, e
		default:
			return nil, err
		}
	}
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return eng.Stop(ctx)
	}
	return &Server{Addr: addr, Stop: stop}, nil
}

// quietGnet drops gnet's informational logs.
type quietGnet struct{}

func (quietGnet) Debugf(string, ...any) {}
func (quietGnet) Infof(string, ...any)  {}
func (quietGnet) Warnf(string, ...any)  {}
func (quietGnet) Errorf(string, ...any) {}
func (quietGnet) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

func serveNetpoll(addr string) (*Server, error) {
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return nil, err
	}
	loop, err := netpoll.NewEventLoop(func(_ context.Context, c netpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		n := r.Len()
		if n == 0 {
			return nil
		}
		b, err := r.Next(n)
		if err != nil {
			return err
		}
		if _, err := w.WriteBinary(b); err != nil {
			return err
		}
		return errors.Join(w.Flush(), r.Release())
	})
	if err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	// Serve returns when Shutdown stops it; a failure before that shows
	// as connections that get no echo, which fails the case.
	go func() { _ = loop.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return loop.Shutdown(ctx)
	}
	return &Server{Addr: ln.Addr().String(), Stop: stop}, nil
}

func serveNbio(addr string) (*Server, error) {
	addr, err := freeAddr(addr)
	if err != nil {
		return nil, err
	}
	logging.SetLevel(logging.LevelError)
	g := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}})
	g.OnData(func(c *nbio.Conn, data []byte) {
		_, _ = c.Write(data) // on a failed write nbio closes the connection itself
	})
	if err := g.Start(); err != nil {
		return nil, err
	}
	return &Server{Addr: addr, Stop: func() error { g.Stop(); return nil }}, nil
}

// echoDispatcher answers every message with one of the same type, tid and
// data size, fast-dispatched on the worker that read it; both messages go
// back to the pool.
type echoDispatcher struct{ payload []byte }

func (e *echoDispatcher) Dispatch(m *gomsgr.Message) bool      { e.FastDispatch(m); return true }
func (e *echoDispatcher) CanFastDispatch(*gomsgr.Message) bool { return true }
func (e *echoDispatcher) FastDispatch(m *gomsgr.Message) {
	r := gomsgr.GetMessage()
	r.Type, r.Tid, r.Priority = m.Type, m.Tid, m.Priority
	r.Data = e.payload[:min(len(m.Data), len(e.payload))]
	r.SetReleaser(gomsgr.ReleaseToPool, nil)
	c := m.Conn
	m.Release()
	// It fails only on a connection marked down or a messenger shutting
	// down; the load generator then counts the reply as missing.
	_ = c.SendMessage(r)
}

func newMessenger(impl string, name gomsgr.EntityName) (gomsgr.Messenger, error) {
	switch impl {
	case "simple":
		return simple.NewMessenger(simple.Options{Name: name, Logger: quietLog})
	case "conn-epoll", "conn-uring", "conn-uring-thread", "conn-uring-completion":
		// conn-DRIVER[-thread]: the default wait mode (poller), or a
		// worker locked to its thread (io_uring then uses COOP_TASKRUN);
		// conn-uring-completion: io_uring completion mode (WaitAuto).
		drv, wait, io := strings.TrimPrefix(impl, "conn-"), center.WaitPoller, center.IOAuto
		if d, ok := strings.CutSuffix(drv, "-thread"); ok {
			drv, wait = d, center.WaitThread
		}
		if d, ok := strings.CutSuffix(drv, "-completion"); ok {
			drv, wait, io = d, center.WaitAuto, center.IOCompletion
		}
		return conn.NewMessenger(conn.Options{Name: name, Workers: 1, Logger: quietLog,
			Center: center.Config{Driver: drv, Wait: wait, IO: io}})
	}
	return nil, fmt.Errorf("unknown msgr2 server %q", impl)
}

func serveMsgr2(impl, addr string) (*Server, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	m, err := newMessenger(impl, gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(m.SetDefaultPolicy(gomsgr.StatelessServer(0)), m.AddDispatcher(&echoDispatcher{payload: make([]byte, 1<<20)})); err != nil {
		return nil, err
	}
	if err := m.Bind(context.Background(), ap); err != nil {
		return nil, err
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	a := m.Addrs()[0]
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return m.Shutdown(ctx)
	}
	return &Server{Addr: fmt.Sprintf("%s/%d", a.Addr, a.Nonce), Stop: stop}, nil
}

// parseMsgr2Addr undoes serveMsgr2's "ADDR/NONCE".
func parseMsgr2Addr(s string) (gomsgr.EntityAddr, error) {
	var a gomsgr.EntityAddr
	host, nonce, ok := strings.Cut(s, "/")
	if !ok {
		return a, fmt.Errorf("msgr2 address %q: want ADDR/NONCE", s)
	}
	ap, err := netip.ParseAddrPort(host)
	if err != nil {
		return a, err
	}
	var n uint32
	if _, err := fmt.Sscan(nonce, &n); err != nil {
		return a, fmt.Errorf("msgr2 address %q: %w", s, err)
	}
	a.Type, a.Addr, a.Nonce = msgr2.AddrMsgr2, ap, n
	return a, nil
}

// quietLog passes only errors to stderr: a load generator closing its
// connections makes every server log faults otherwise.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
