package gomsgr

import (
	"context"
	"errors"
	"net/netip"
)

// Messenger is a messaging endpoint: it binds and accepts, connects to peers,
// sends messages and dispatches what it receives (Ceph's Messenger). Both
// implementations, conn (event loop) and simple (goroutine per connection),
// satisfy it.
type Messenger interface {
	// Name is the entity this messenger speaks for.
	Name() EntityName
	// SetPolicy sets the policy for peers of type t; SetDefaultPolicy for
	// all others. Call before Start.
	SetPolicy(t EntityType, p Policy)
	SetDefaultPolicy(p Policy)
	// AddDispatcher appends d to the dispatch chain. Call before Start.
	AddDispatcher(d Dispatcher)
	// Bind listens on addr ("127.0.0.1:0" for any free port, a port 0
	// with a configured range to scan it). Call before Start; a messenger
	// that only connects need not bind.
	Bind(addr netip.AddrPort) error
	// Addrs returns the bound addresses (with their nonce).
	Addrs() AddrVec
	// Start starts accepting and dispatching.
	Start() error
	// ConnectTo returns the connection to addr, creating one (and starting
	// its handshake in the background) when none exists. It does not wait.
	ConnectTo(t EntityType, addr EntityAddr) (Connection, error)
	// SendTo sends m to addr over the connection ConnectTo would return.
	SendTo(m *Message, t EntityType, addr EntityAddr) error
	// MarkDown closes the connection to addr, if any, discarding its queue.
	MarkDown(addr EntityAddr)
	// MarkDownAll closes every connection.
	MarkDownAll()
	// Shutdown stops accepting, closes every connection and stops
	// dispatching; it returns when everything has stopped or ctx ends.
	Shutdown(ctx context.Context) error
	// Wait blocks until Shutdown has completed or ctx ends.
	Wait(ctx context.Context) error
}

// Connection is one session with a peer (Ceph's Connection). Its methods
// may be called from any goroutine.
type Connection interface {
	// SendMessage queues m; it is written by the connection's worker. The
	// messenger owns m from now on.
	SendMessage(m *Message) error
	// SendKeepalive queues a KEEPALIVE2 frame.
	SendKeepalive() error
	// MarkDown closes the connection, discarding queued messages.
	MarkDown()
	// IsConnected reports whether the session is established and open.
	IsConnected() bool
	// PeerName, PeerType and PeerAddr describe the peer; the name is
	// known once the handshake is done.
	PeerName() EntityName
	PeerType() EntityType
	PeerAddr() EntityAddr
	// Features returns the Ceph feature bits both sides agreed on.
	Features() uint64
	// Messenger returns the messenger the connection belongs to.
	Messenger() Messenger
}

// Errors shared by the implementations.
var (
	// ErrShutdown is returned by operations on a messenger that is shut
	// down or shutting down.
	ErrShutdown = errors.New("gomsgr: messenger shut down")
	// ErrClosed is returned by SendMessage on a connection that is marked
	// down or failed (lossy).
	ErrClosed = errors.New("gomsgr: connection closed")
	// ErrNotStarted is returned by operations that need Start first.
	ErrNotStarted = errors.New("gomsgr: messenger not started")
)
