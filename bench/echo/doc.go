// Package echo holds the TCP echo servers and the ping-pong client that
// measure the event loop against the standard library's
// goroutine-per-connection model: Server runs on a center.Stack, StdServer on
// net.Listener with one goroutine per connection, and PingPong drives either
// with one connection and fixed-size messages, recording every round trip.
//
// Server, CompletionServer and PinSelf need Linux (center, io_uring,
// sched_setaffinity); their code is in _linux.go files. Elsewhere the package
// builds, they return errors wrapping errors.ErrUnsupported, and StdServer,
// the clients and the child-process harness work as on Linux.
package echo
