package testhooks

import (
	"time"

	"github.com/gomsgr/gomsgr"
)

// Inject is the fault injection a messenger applies (Ceph's ms_inject_*
// options). The zero value injects nothing; tests set it with
// Config.Inject or, while running, the messenger's SetInject.
type Inject struct {
	// SocketFailures, when positive, shuts a connection's socket down
	// before one in SocketFailures reads and writes
	// (ms_inject_socket_failures).
	SocketFailures int
	// InternalDelay sleeps the worker at the race points of a session
	// replacement (ms_inject_internal_delays); with SocketFailures set,
	// only one time in SocketFailures, as Ceph does.
	InternalDelay time.Duration
	// Congestion, when positive, lets only one write attempt in
	// Congestion go through; the others wait as if the socket were full
	// (ms_inject_network_congestion).
	Congestion int
	// DelayType, DelayMax and DelayProbability delay the delivery of
	// messages from peers of DelayType by up to DelayMax with that
	// probability, keeping their order (ms_inject_delay_type,
	// ms_inject_delay_max, ms_inject_delay_probability).
	DelayType        gomsgr.EntityType
	DelayMax         time.Duration
	DelayProbability float64
}
