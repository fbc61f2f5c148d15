package gomsgr

// SessionStats counts what a messenger's sessions went through,
// messenger-wide (both messengers report it).
type SessionStats struct {
	// Faults is the number of socket faults handled (any policy).
	Faults uint64
	// Reconnects counts connect attempts that resumed a session after a
	// fault (immediate or after a backoff).
	Reconnects uint64
	// Standbys counts faults that left a lossless session in STANDBY.
	Standbys uint64
	// Requeued counts written but unacknowledged messages put back at the
	// front of an out-queue after a fault; Replayed those written again
	// (the rest the peer already had: RECONNECT_OK dropped them).
	Requeued, Replayed uint64
	// Duplicates counts received messages dropped because their seq was
	// not past the last one delivered.
	Duplicates uint64
	// Skipped counts messages missing in gaps of received seqs (Ceph's
	// "missed message?"; see the messengers' FailOnSkippedMessage).
	Skipped uint64
	// Replacements counts sockets moved onto an existing session.
	Replacements uint64
	// RemoteResets counts sessions reset because the peer's was.
	RemoteResets uint64
	// AuthFailures counts connections closed because authentication
	// failed (errors.Is(err, ErrAuth)), either side's refusal.
	AuthFailures uint64
	// InjectedSocketFailures, InjectedCongestion, InjectedDelays (internal
	// delays at race points) and InjectedRecvDelays (messages held back)
	// count the faults the testing hooks' injection caused.
	InjectedSocketFailures, InjectedCongestion, InjectedDelays, InjectedRecvDelays uint64
}
