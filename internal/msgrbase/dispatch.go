package msgrbase

import (
	"strconv"

	"github.com/gomsgr/gomsgr"
)

// ConnEvent is a connection event queued for the connection handlers
// (Ceph's ms_handle_* calls), in the dispatch queue with the messages.
type ConnEvent uint8

// The connection events; EvNone marks a queue item that is a message.
const (
	EvNone        ConnEvent = iota
	EvConnect               // HandleConnect: an outgoing session is open
	EvAccept                // HandleAccept: an incoming session is open
	EvReset                 // HandleReset: the session faulted
	EvRemoteReset           // HandleRemoteReset: the peer reset the session
	EvRefused               // HandleRefused: the peer refused the connect
)

var connEventNames = [...]string{"none", "connect", "accept", "reset", "remote_reset", "refused"}

// String returns the event's name, as in the handler's name.
func (e ConnEvent) String() string {
	if int(e) < len(connEventNames) {
		return connEventNames[e]
	}
	return "ConnEvent(" + strconv.Itoa(int(e)) + ")"
}

// Chain is a messenger's dispatchers in the order they were added, and the
// fast dispatchers and connection handlers among them (Ceph's dispatchers,
// fast_dispatchers and the ms_handle_* fan-out). The messenger's lock
// guards Add; the fields are read by the delivery paths as the messenger
// documents.
type Chain struct {
	Dispatchers []gomsgr.Dispatcher
	Fast        []gomsgr.FastDispatcher
	Handlers    []gomsgr.ConnHandler
}

// Add appends d, and to Fast and Handlers if it implements them.
func (ch *Chain) Add(d gomsgr.Dispatcher) {
	ch.Dispatchers = append(ch.Dispatchers, d)
	if f, ok := d.(gomsgr.FastDispatcher); ok {
		ch.Fast = append(ch.Fast, f)
	}
	if h, ok := d.(gomsgr.ConnHandler); ok {
		ch.Handlers = append(ch.Handlers, h)
	}
}

// Dispatch offers msg to each dispatcher in turn and reports whether one
// took it (Ceph's ms_deliver_dispatch). When none did, msg is still the
// caller's to release.
func (ch *Chain) Dispatch(msg *gomsgr.Message) bool {
	for _, d := range ch.Dispatchers {
		if d.Dispatch(msg) {
			return true
		}
	}
	return false
}

// Event runs ev's handler of each connection handler in turn; a reset or
// refused handler that returns true stops the fan-out, as in Ceph.
func (ch *Chain) Event(c gomsgr.Connection, ev ConnEvent) {
	for _, h := range ch.Handlers {
		switch ev {
		case EvConnect:
			h.HandleConnect(c)
		case EvAccept:
			h.HandleAccept(c)
		case EvReset:
			if h.HandleReset(c) {
				return
			}
		case EvRemoteReset:
			h.HandleRemoteReset(c)
		case EvRefused:
			if h.HandleRefused(c) {
				return
			}
		}
	}
}
