package perf

import "strconv"

// Counter identifies one of a worker's perf counters. The constants are Ceph
// AsyncMessenger's l_msgr_* counters (src/msg/async/Stack.h), in Ceph's enum
// order, which is also the order of a dump. Counter.Name gives Ceph's name.
type Counter uint8

// The worker counters, with Ceph's names and meanings.
const (
	// RecvMessages is msgr_recv_messages: messages received.
	RecvMessages Counter = iota
	// SendMessages is msgr_send_messages: messages sent.
	SendMessages
	// RecvBytes is msgr_recv_bytes: bytes received from the network.
	RecvBytes
	// SendBytes is msgr_send_bytes: bytes sent to the network.
	SendBytes
	// CreatedConnections is msgr_created_connections: connections created on
	// this worker (accepted or connected).
	CreatedConnections
	// ActiveConnections is msgr_active_connections: connections open now. Ceph
	// declares it a u64 counter and decrements it; here it is a Gauge.
	ActiveConnections
	// RunningTotalTime is msgr_running_total_time: time the worker spent
	// running (not waiting for events).
	RunningTotalTime
	// RunningSendTime is msgr_running_send_time: time spent sending messages.
	RunningSendTime
	// RunningRecvTime is msgr_running_recv_time: time spent receiving messages.
	RunningRecvTime
	// RunningFastDispatchTime is msgr_running_fast_dispatch_time: time spent in
	// fast dispatch.
	RunningFastDispatchTime
	// SendMessagesQueueLat is msgr_send_messages_queue_lat: latency from
	// queueing a message to sending it (average; also a histogram).
	SendMessagesQueueLat
	// HandleAckLat is msgr_handle_ack_lat: time to handle an ack (average;
	// also a histogram).
	HandleAckLat
	// RecvEncryptedBytes is msgr_recv_encrypted_bytes: bytes received in
	// secure mode.
	RecvEncryptedBytes
	// SendEncryptedBytes is msgr_send_encrypted_bytes: bytes sent in secure
	// mode.
	SendEncryptedBytes
	// ConnectionReadyTimeouts is msgr_connection_ready_timeouts: connections
	// declared dead before becoming ready. Ceph keeps it in a separate,
	// labeled logger ("AsyncMessenger::Worker" with label id); gomsgr dumps it
	// with the worker's other counters.
	ConnectionReadyTimeouts
	// ConnectionIdleTimeouts is msgr_connection_idle_timeouts: connections
	// closed for idleness. Labeled in Ceph, like ConnectionReadyTimeouts.
	ConnectionIdleTimeouts
	// ConnectionStalls is msgr_connection_stalls (gomsgr's, not Ceph's):
	// connections faulted because a message whose receive-throttle budget
	// they held did not arrive whole within the message progress deadline
	// (gomsgr.ErrStalled).
	ConnectionStalls
	// HandshakesRefused is msgr_handshakes_refused (gomsgr's, not Ceph's):
	// accepted sockets closed at once because the messenger already had
	// its maximum of accepted connections not yet ready (MaxHandshaking).
	HandshakesRefused

	// NumCounters is the number of worker counters; valid Counters are below it.
	NumCounters
)

// Kind says how a counter is updated and dumped. The kinds map onto Ceph's
// PerfCountersBuilder calls.
type Kind uint8

const (
	// KindCounter only grows (Ceph add_u64_counter). Dumped as an integer.
	KindCounter Kind = iota
	// KindGauge goes up and down (Ceph add_u64 / inc+dec). Dumped as an
	// integer, signed.
	KindGauge
	// KindTime is a sum of durations (Ceph add_time), kept in nanoseconds and
	// dumped as seconds with nine decimals.
	KindTime
	// KindTimeAvg is a latency average (Ceph add_time_avg): a count and a sum,
	// dumped as {"avgcount", "sum", "avgtime"}.
	KindTimeAvg
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindGauge:
		return "gauge"
	case KindTime:
		return "time"
	case KindTimeAvg:
		return "time_avg"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Unit is a counter's unit, as Ceph's unit_t.
type Unit uint8

const (
	// UnitNone is a plain count (or nanoseconds, for the time kinds).
	UnitNone Unit = iota
	// UnitBytes counts bytes.
	UnitBytes
)

// Desc describes a counter: Ceph's name and description, its kind and unit.
type Desc struct {
	Name string
	Help string
	Kind Kind
	Unit Unit
}

var descs = [NumCounters]Desc{
	RecvMessages:            {"msgr_recv_messages", "Network received messages", KindCounter, UnitNone},
	SendMessages:            {"msgr_send_messages", "Network sent messages", KindCounter, UnitNone},
	RecvBytes:               {"msgr_recv_bytes", "Network received bytes", KindCounter, UnitBytes},
	SendBytes:               {"msgr_send_bytes", "Network sent bytes", KindCounter, UnitBytes},
	CreatedConnections:      {"msgr_created_connections", "Created connection number", KindCounter, UnitNone},
	ActiveConnections:       {"msgr_active_connections", "Active connection number", KindGauge, UnitNone},
	RunningTotalTime:        {"msgr_running_total_time", "The total time of thread running", KindTime, UnitNone},
	RunningSendTime:         {"msgr_running_send_time", "The total time of message sending", KindTime, UnitNone},
	RunningRecvTime:         {"msgr_running_recv_time", "The total time of message receiving", KindTime, UnitNone},
	RunningFastDispatchTime: {"msgr_running_fast_dispatch_time", "The total time of fast dispatch", KindTime, UnitNone},
	SendMessagesQueueLat:    {"msgr_send_messages_queue_lat", "Network sent messages lat", KindTimeAvg, UnitNone},
	HandleAckLat:            {"msgr_handle_ack_lat", "Connection handle ack lat", KindTimeAvg, UnitNone},
	RecvEncryptedBytes:      {"msgr_recv_encrypted_bytes", "Network received encrypted bytes", KindCounter, UnitBytes},
	SendEncryptedBytes:      {"msgr_send_encrypted_bytes", "Network sent encrypted bytes", KindCounter, UnitBytes},
	ConnectionReadyTimeouts: {"msgr_connection_ready_timeouts", "Number of not yet ready connections declared as dead", KindCounter, UnitNone},
	ConnectionIdleTimeouts:  {"msgr_connection_idle_timeouts", "Number of connections closed due to idleness", KindCounter, UnitNone},
	ConnectionStalls:        {"msgr_connection_stalls", "Number of connections closed because a message holding receive budget stalled", KindCounter, UnitNone},
	HandshakesRefused:       {"msgr_handshakes_refused", "Number of accepted connections refused over the handshaking limit", KindCounter, UnitNone},
}

// kinds is descs' Kind column, kept apart so the hot path reads 16 bytes.
var kinds = func() (k [NumCounters]Kind) {
	for i := range descs {
		k[i] = descs[i].Kind
	}
	return k
}()

// Desc returns the counter's description. It panics if c >= NumCounters.
func (c Counter) Desc() Desc { return descs[c] }

// Name returns Ceph's name for the counter, e.g. "msgr_recv_messages".
func (c Counter) Name() string { return c.String() }

// Kind returns the counter's kind.
func (c Counter) Kind() Kind {
	if c >= NumCounters {
		return KindCounter
	}
	return kinds[c]
}

// String returns Ceph's name for the counter, or "Counter(N)" if c is not a
// valid counter.
func (c Counter) String() string {
	if c >= NumCounters {
		return "Counter(" + strconv.Itoa(int(c)) + ")"
	}
	return descs[c].Name
}

// AllCounters returns every counter in dump order.
func AllCounters() []Counter {
	cs := make([]Counter, NumCounters)
	for i := range cs {
		cs[i] = Counter(i)
	}
	return cs
}

// Batch's touched mask has one bit per counter.
var _ [64 - NumCounters]struct{}
