package conn

import (
	"github.com/gomsgr/gomsgr"
)

// qitem is one dispatch queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     connEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget to give back after dispatch
	replay bool  // out-queue: a requeued message, written before a fault
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
