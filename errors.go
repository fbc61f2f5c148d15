package gomsgr

import "errors"

// Errors shared by the implementations: errors.Is matches them whichever
// messenger returned them.
var (
	// ErrShutdown is returned by operations on a messenger that is shut
	// down or shutting down.
	ErrShutdown = errors.New("gomsgr: messenger shut down")
	// ErrClosed is returned by SendMessage on a connection that is marked
	// down or failed (lossy), and by WaitReady when the connection closed
	// without a more specific cause.
	ErrClosed = errors.New("gomsgr: connection closed")
	// ErrNotStarted is returned by operations that need Start first.
	ErrNotStarted = errors.New("gomsgr: messenger not started")
	// ErrStarted is returned by configuration calls (AddDispatcher,
	// SetPolicy, SetDefaultPolicy) made after Start: a messenger's
	// configuration is fixed once it runs.
	ErrStarted = errors.New("gomsgr: messenger already started")
	// ErrReadyTimeout is a connection's cause when connect and handshake
	// did not finish within the ready timeout
	// (ms_connection_ready_timeout).
	ErrReadyTimeout = errors.New("gomsgr: connection ready timeout")
	// ErrIdleTimeout is a connection's cause when nothing was read for
	// the idle timeout (ms_connection_idle_timeout).
	ErrIdleTimeout = errors.New("gomsgr: connection idle timeout")
	// ErrAuth is a connection's cause when authentication failed: the
	// peer refused our credentials or we refused its, no auth method or
	// connection mode was acceptable to both sides, or the handshake
	// signatures did not match.
	ErrAuth = errors.New("gomsgr: authentication failed")
	// ErrMarkedDown is a connection's cause when it was marked down.
	ErrMarkedDown = errors.New("gomsgr: connection marked down")
	// ErrStalled is a connection's cause when a message whose receive
	// budget it took at the frame's preamble did not arrive whole within
	// the message progress deadline (the messengers'
	// MessageProgressTimeout): the peer claimed throttle budget and then
	// sent the payload too slowly, or not at all.
	ErrStalled = errors.New("gomsgr: message stalled")
)
