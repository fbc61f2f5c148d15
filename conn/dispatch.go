package conn

import (
	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
)

// qitem is one dispatch queue entry: a message, or a connection event.
type qitem struct {
	m      *gomsgr.Message
	ev     msgrbase.ConnEvent
	conn   *Connection
	queued int64 // nanotime when queued (out-queue only)
	held   held  // throttle budget to give back after dispatch
	replay bool  // out-queue: a requeued message, written before a fault
}
