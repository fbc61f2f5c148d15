package peers

import (
	"time"

	"github.com/gomsgr/gomsgr/bench/echo"
	"github.com/gomsgr/gomsgr/center"
)

// readBytes is the read buffer of each event-loop worker (shared by its
// connections, since a worker runs one handler at a time) and of each
// standard-library connection.
const readBytes = echo.BufBytes

// serveLoop starts the `gomsgr-DRIVER-WAIT` echo server: bench/echo's
// Server on a one-worker center.Stack with its shared read buffer. Unlike
// `bench-echo-epoll-poller` (the same Server with a 64 KiB buffer per
// connection), a connection here owns memory only while the kernel refused
// part of a reply: reads go into the worker's buffer, and only what a write
// left over is copied out. That is what gnet, netpoll and nbio do too.
func serveLoop(addr string, cfg center.Config) (*Server, error) {
	return serveEcho(addr, center.StackConfig{Name: "peers-echo", Center: cfg},
		echo.ServerOptions{SharedReadBuffer: true, Backlog: 4096})
}

// serveEcho starts a bench/echo Server, stopped within 10 seconds.
func serveEcho(addr string, cfg center.StackConfig, opts echo.ServerOptions) (*Server, error) {
	s, err := echo.NewServerWith(addr, cfg, opts)
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
