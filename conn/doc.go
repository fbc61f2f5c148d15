// Package conn is gomsgr's event-loop messenger: Ceph's AsyncMessenger with
// its Processor, AsyncConnection and DispatchQueue, on the workers of a
// center.Stack.
//
// Every Connection is pinned to one worker; its socket, its session engine
// (internal/session), its read buffer and its write state are touched only
// there. Other goroutines queue messages under the connection's lock and post
// the connection's write event once; the worker drains the queue into one
// vectored write. Received messages go to fast dispatchers inline on the
// worker or through the DispatchQueue to the slow dispatchers, in priority
// order, together with connection events. The messenger shell
// (internal/msgrbase) and the frame pipeline (internal/framing) are the
// ones package simple uses too; docs/ARCHITECTURE.md says how they fit.
//
// Peers are strangers until their session is open, and may be hostile
// after it (docs/ARCHITECTURE.md, "Hostile peers"): Options.ReadyTimeout
// and Options.MaxHandshaking bound the handshakes, a frame may take only
// Options.ThrottleShare of a receive throttle others need, and a message
// whose budget was taken must arrive within
// Options.MessageProgressTimeout (else gomsgr.ErrStalled).
//
// The event loop needs Linux: elsewhere NewMessenger fails with an error
// that wraps errors.ErrUnsupported (package simple runs everywhere). epoll
// is linked by default; the io_uring driver is linked by importing it:
//
//	import _ "github.com/gomsgr/gomsgr/driver/uring"
//
//	m, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}})
//	m.AddDispatcher(gomsgr.DispatcherFunc(func(msg *gomsgr.Message) { ... }))
//	m.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
//	m.Start()
package conn
