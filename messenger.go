package gomsgr

import (
	"context"
	"net/netip"
)

// Messenger is a messaging endpoint: it binds and accepts, connects to peers,
// sends messages and dispatches what it receives (Ceph's Messenger). Both
// implementations, conn (event loop) and simple (goroutine per connection),
// satisfy it.
//
// Configuration (policies, dispatchers, the bound address) is set before
// Start and fixed after it: the configuration calls then return
// ErrStarted.
type Messenger interface {
	// Name is the entity this messenger speaks for.
	Name() EntityName
	// SetPolicy sets the policy for peers of type t; SetDefaultPolicy for
	// all others. Both return ErrStarted after Start.
	SetPolicy(t EntityType, p Policy) error
	SetDefaultPolicy(p Policy) error
	// AddDispatcher appends d to the dispatch chain; ErrStarted after
	// Start.
	AddDispatcher(d Dispatcher) error
	// Bind listens on addr. Port 0 takes a port the kernel chooses,
	// unless the implementation's options ask for Ceph's port-range scan
	// (ms_bind_port_min..ms_bind_port_max), which may retry until ctx
	// ends. Call before Start; a messenger that only connects need not
	// bind.
	Bind(ctx context.Context, addr netip.AddrPort) error
	// Addrs returns the bound addresses (with their nonce).
	Addrs() AddrVec
	// Start starts accepting and dispatching.
	Start() error
	// ConnectTo returns the connection to addr (see Msgr2Addr and
	// ParseAddr), creating one and starting its handshake in the
	// background when none exists. It does not wait: use
	// Connection.WaitReady for that.
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
	// messenger owns m from now on. It fails with ErrClosed once the
	// connection is closed, and with the cause when the message cannot be
	// queued for writing (the worker stopped).
	SendMessage(m *Message) error
	// SendKeepalive queues a KEEPALIVE2 frame.
	SendKeepalive() error
	// MarkDown closes the connection, discarding queued messages.
	MarkDown()
	// IsConnected reports whether the session is established and open.
	IsConnected() bool
	// WaitReady waits until the session is open (nil), the connection
	// closed (its cause, as Err returns it), or ctx ends (ctx.Err()). A
	// lossless session that faults and reconnects is waited for until it
	// is open again.
	WaitReady(ctx context.Context) error
	// Err returns why the connection closed, nil while it is open or
	// reconnecting: a refused connect, ErrReadyTimeout, ErrIdleTimeout, a
	// protocol violation by the peer, EOF, or ErrMarkedDown. errors.Is
	// tells them apart.
	Err() error
	// PeerName, PeerType and PeerAddr describe the peer; the name is
	// known once the handshake is done.
	PeerName() EntityName
	PeerType() EntityType
	PeerAddr() EntityAddr
	// Features returns the Ceph feature bits both sides agreed on.
	Features() uint64
	// Security says how the session was authenticated and protected,
	// once the handshake is done: a server's dispatcher can authorize
	// requests by the entity its peer proved to be.
	Security() Security
	// Messenger returns the messenger the connection belongs to.
	Messenger() Messenger
}

// Security is how a session was authenticated and protected (see package
// auth).
type Security struct {
	// Method is the auth method: "none" or "cephx".
	Method string
	// Mode is the connection mode: "crc" or "secure" (AES-GCM).
	Mode string
	// Entity is the entity the peer authenticated as ("client.admin"), on
	// the server side of a cephx session; empty otherwise.
	Entity string
}
