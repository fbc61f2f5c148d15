// Package session is the msgr2 session engine, written once without I/O and
// driven by both messengers: the event-loop Connection in package conn and
// the goroutine-per-connection one in package simple.
//
// An Engine is fed the bytes its connection read (Feed) and told about
// messages to send (PrepareMessage, then msgr2.MessageFrame); it appends the control bytes to write to
// its output (Output, Advance), and reports what happened through a Sink:
// the session is ready, a message arrived, an ack came. Because it never
// touches a socket, a handshake, a race or a bad frame can be tested
// deterministically by wiring two engines together in memory.
//
// The engine speaks msgr2 in crc mode with auth method none: banner, HELLO,
// AUTH_REQUEST / AUTH_DONE (or AUTH_BAD_METHOD), AUTH_SIGNATURE, CLIENT_IDENT
// / SERVER_IDENT (or IDENT_MISSING_FEATURES), then MESSAGE, ACK, KEEPALIVE2
// and KEEPALIVE2_ACK frames.
//
// It also keeps lossless sessions across sockets. Cookies and sequence
// numbers survive Restart, so a client that holds a server cookie asks for
// its session back with SESSION_RECONNECT and acts on the answer:
// SESSION_RECONNECT_OK (replay only what the peer lacks), SESSION_RETRY,
// SESSION_RETRY_GLOBAL, SESSION_RESET or WAIT. A server decides each
// CLIENT_IDENT and SESSION_RECONNECT with its messenger through
// SessionSink.Existing, after Ceph's table (Decide); when the verdict moves
// the socket onto the messenger's existing session, Feed fails with
// ErrReplaced and the existing session's engine continues with Resume. A Sink
// that is not a SessionSink (simple's, whose sessions are all lossy) gets a
// new session for every CLIENT_IDENT and a full SESSION_RESET for every
// SESSION_RECONNECT. Duplicates are dropped by seq, and Config.Step hooks
// inject faults at named points. docs/ARCHITECTURE.md ("The session engine",
// "The lossless state machine") describes the whole exchange.
package session
