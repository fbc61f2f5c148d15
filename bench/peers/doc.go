// Package peers is the side-by-side comparison harness: the same
// request/response workloads (a length-prefixed echo, and msgr2 messages
// echoed by a fast dispatcher) served by the standard library, gnet v2,
// cloudwego/netpoll, lesismal/nbio, gomsgr's event loop (both drivers, both
// waiting modes) and gomsgr's messengers (conn on epoll and io_uring, and
// simple), and driven by one plain Go load generator, so that only the server
// differs.
//
// It is its own module so that the library's go.mod does not carry the peers'
// dependencies. The command is cmd/peerbench:
//
//	cd bench/peers && go run ./cmd/peerbench run     # every case, writes ../RESULTS.md and plots
//
// Each server runs in a child process (`peerbench server -impl NAME -proto
// echo|msgr2`) pinned to CPU 1 with GOMAXPROCS=1; the load generator pins
// itself to CPU 0.
package peers
