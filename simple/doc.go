// Package simple is gomsgr's goroutine-per-connection messenger (Ceph's
// SimpleMessenger role): the portable fallback on net.Conn and net.Listener,
// and the baseline every benchmark of the event-loop messenger (package conn)
// is compared with. It speaks the same msgr2 protocol through the same
// session engine (internal/session), implements the same gomsgr.Messenger
// and gomsgr.Connection interfaces, takes the same options (minus the event
// loop's) and passes the same conformance suite.
//
// Each connection has two goroutines. The reader (the connection's own
// goroutine) dials (client side), reads
// into a pooled prefetch buffer, feeds the session engine under the
// connection's lock and, with the lock released, hands received messages to
// fast dispatchers inline or to the dispatch queue (Ceph's DispatchQueue:
// strict priority order at gomsgr.PrioLow and above, connection events in the
// same queue). The writer waits for output, takes the engine's control frames
// and the queued messages (highest priority first, FIFO within one) under the
// lock, and writes them with one vectored write (net.Buffers, writev on
// Linux) that references the payloads without copying them. Sends to the
// messenger's own address go through a loopback connection to the local
// dispatchers.
//
// Received messages hold receive-throttle budget (Policy.ThrottleMessages
// and ThrottleBytes per peer type, Options.DispatchThrottleBytes) from the
// moment their preamble is read until they are dispatched; a reader that
// finds no room waits, so TCP flow control pushes back on the sender.
// Receive buffers come from size-class pools and are handed to the message
// (Message.Release returns them), so steady-state traffic allocates nothing.
// Counters with Ceph's names are kept in a perf.Set (Messenger.Perf).
//
// Policies mean what they mean in conn (docs/ARCHITECTURE.md, "The
// lossless state machine"): a lossy session closes on a fault and
// delivers a reset; a lossless one keeps written messages until the peer
// acknowledges them and, when its socket fails, requeues them and
// reconnects at once, backs off (Options.InitialBackoff doubling to
// MaxBackoff) or waits in STANDBY, asks for its session back with
// SESSION_RECONNECT and replays what the peer lacks. The accepting side
// decides a peer's request against its existing session with Ceph's
// table (session.Decide) and may move the new socket onto it. All of it
// runs on the connection's goroutine, which outlives its sockets; each
// socket gets a writer of its own. Testing.Inject injects faults as in
// conn (SetInject changes it while running), and SessionStats counts them.
//
// Input is hostile until the handshake is done: frames are limited to
// 64 KiB before the session is ready, a connection that fails on input
// still sends the engine's answer (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES)
// before it closes, and Options.ReadyTimeout bounds connect + handshake.
// After it, strangers are bounded as in conn (docs/ARCHITECTURE.md,
// "Hostile peers"): Options.MessageProgressTimeout closes a connection
// that claims receive budget and does not send the message
// (gomsgr.ErrStalled), Options.ThrottleShare keeps one frame from taking
// more than its share of a throttle others need, and
// Options.MaxHandshaking bounds the accepted connections not ready yet.
//
//	m, _ := simple.NewMessenger(simple.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}})
//	m.AddDispatcher(gomsgr.DispatcherFunc(func(msg *gomsgr.Message) { ... }))
//	m.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
//	m.Start()
//	defer m.Shutdown(ctx)
package simple
