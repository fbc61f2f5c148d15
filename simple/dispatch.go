package simple

import (
	"github.com/gomsgr/gomsgr"
)

// qitem is one queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     connEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget, given back after dispatch (dispatch queue only)
}

type connEvent uint8

const (
	evNone connEvent = iota
	evConnect
	evAccept
	evReset
	evRemoteReset
	evRefused
)
