package gomsgr

// Dispatcher receives messages (Ceph's Dispatcher::ms_dispatch). Dispatch
// runs on the messenger's dispatch goroutine, in priority order, and reports
// whether it consumed the message; the next dispatcher in the chain gets it
// otherwise. A dispatcher may also implement FastDispatcher and
// ConnHandler; the messenger checks with a type assertion.
type Dispatcher interface {
	Dispatch(m *Message) bool
}

// FastDispatcher takes messages on the worker that read them, without
// queueing (Ceph's ms_can_fast_dispatch / ms_fast_dispatch). FastDispatch
// must not block: it runs on the event loop with no connection lock held.
type FastDispatcher interface {
	CanFastDispatch(m *Message) bool
	FastDispatch(m *Message)
}

// ConnHandler receives connection events, delivered through the dispatch
// queue in order with the connection's messages (Ceph's ms_handle_*).
type ConnHandler interface {
	// HandleConnect: an outgoing connection completed its handshake.
	HandleConnect(c Connection)
	// HandleAccept: an incoming connection completed its handshake.
	HandleAccept(c Connection)
	// HandleReset: the connection was dropped (lossy fault or mark-down);
	// queued messages are lost. Reports whether it was handled.
	HandleReset(c Connection) bool
	// HandleRemoteReset: the peer reset its session; lossless messages
	// queued before may be lost.
	HandleRemoteReset(c Connection)
	// HandleRefused: the peer refused the connection. Reports whether it
	// was handled.
	HandleRefused(c Connection) bool
}

// DispatcherFunc adapts a function to a Dispatcher that consumes every
// message.
type DispatcherFunc func(m *Message)

// Dispatch calls f(m) and reports true.
func (f DispatcherFunc) Dispatch(m *Message) bool { f(m); return true }
