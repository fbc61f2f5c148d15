package msgrbase

import (
	"strconv"
	"sync/atomic"

	"github.com/gomsgr/gomsgr/internal/session"
)

// State is a connection's place in its life (Ceph's AsyncConnection states,
// folded to what the messengers act on). Transitions:
//
//	Connecting ──connected──▶ Handshake ──ready──▶ Ready
//	     ▲                        │                  │
//	     └──── fault, lossless ───┴──── fault ───────┤
//	                                                 ▼
//	Standby ◀── fault, lossless, nothing queued / server policy
//	Closed  ◀── any state: mark-down, lossy fault, shutdown (final)
//
// An accepted connection starts in Handshake; Standby and the fault arrows
// exist only for lossless policies.
type State int32

// The states.
const (
	Connecting State = iota // client: connect in progress (or waiting to dial again)
	Handshake               // banner, auth and ident frames
	Ready                   // session open
	Closed                  // marked down, a lossy session faulted, or shut down
	Standby                 // a lossless session kept without a socket
)

var stateNames = [...]string{"connecting", "handshake", "ready", "closed", "standby"}

// String returns the state's name, as dumps show it.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Live reports whether the connection has a socket in use (Handshake or
// Ready): reads and writes make sense.
func (s State) Live() bool { return s == Handshake || s == Ready }

// ExState maps s for the decision table (session.Decide) as another
// connection sees it.
func (s State) ExState() session.ExState {
	switch s {
	case Ready:
		return session.ExReady
	case Standby:
		return session.ExStandby
	case Closed:
		return session.ExClosed
	}
	return session.ExConnecting
}

// StateVar is a State read from any goroutine and written by the
// connection's owner.
type StateVar struct{ v atomic.Int32 }

// Load returns the state.
func (s *StateVar) Load() State { return State(s.v.Load()) }

// Store sets the state.
func (s *StateVar) Store(st State) { s.v.Store(int32(st)) }

// Swap sets the state and returns the previous one.
func (s *StateVar) Swap(st State) State { return State(s.v.Swap(int32(st))) }

// CompareAndSwap sets the state to new if it is old.
func (s *StateVar) CompareAndSwap(old, new State) bool {
	return s.v.CompareAndSwap(int32(old), int32(new))
}
