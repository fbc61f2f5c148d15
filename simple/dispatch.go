package simple

import (
	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
)

// qitem is one queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     msgrbase.ConnEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget, given back after dispatch (dispatch queue only)
}
