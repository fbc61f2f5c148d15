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
// and KEEPALIVE2_ACK frames. Lossless reconnects (SESSION_RECONNECT and
// friends) are not implemented yet: a peer asking for one gets an error.
package session
