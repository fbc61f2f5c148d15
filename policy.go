package gomsgr

// Policy says how a messenger treats connections with one type of peer
// (Ceph's Messenger::Policy). Use one of the presets; a zero Policy is a
// lossless peer that reconnects.
type Policy struct {
	// Lossy: on a fault, drop the session and its queued messages instead
	// of reconnecting and replaying them.
	Lossy bool
	// Server: this side never initiates a reconnect to the peer; the peer
	// reconnects to us.
	Server bool
	// Standby: on a fault with nothing queued, wait (STANDBY) rather than
	// reconnect until there is something to send.
	Standby bool
	// ResetCheck: if the peer has reset its session, reset ours too
	// (deliver HandleRemoteReset).
	ResetCheck bool
	// RegisterLossyClients: register lossy client connections in the
	// connection map by address, so that SendTo can find them.
	RegisterLossyClients bool
	// FeaturesSupported and FeaturesRequired are the Ceph feature bits
	// advertised and required in the session handshake; a zero
	// FeaturesSupported means the implementation's default (everything a
	// Ceph 16.2 client supports).
	FeaturesSupported, FeaturesRequired uint64
	// ThrottleBytes and ThrottleMessages bound the bytes and messages
	// received from peers of this type that are not yet released by the
	// dispatcher; zero means no limit.
	ThrottleBytes, ThrottleMessages int64
}

// The seven policy presets of Ceph's Messenger::Policy. Each takes the Ceph
// feature bits the peer must support (features_required); the supported set
// is the implementation's default.

// StatefulServer: a lossless server that never dials out; the client
// reconnects and this side keeps the session, goes to STANDBY when idle and
// resets when the peer did (MON and MDS facing their peers).
func StatefulServer(required uint64) Policy {
	return Policy{Server: true, Standby: true, ResetCheck: true, RegisterLossyClients: true, FeaturesRequired: required}
}

// StatelessRegisteredServer: a lossy server that registers its lossy
// clients' connections, so that one client keeps one connection (the public
// messenger facing external clients).
func StatelessRegisteredServer(required uint64) Policy {
	return Policy{Lossy: true, Server: true, RegisterLossyClients: true, FeaturesRequired: required}
}

// StatelessServer: a lossy server that does not track its clients
// (heartbeat servers).
func StatelessServer(required uint64) Policy {
	return Policy{Lossy: true, Server: true, FeaturesRequired: required}
}

// LosslessPeer: both sides connect and reconnect; sessions are kept, idle
// sessions go to STANDBY (OSD to OSD).
func LosslessPeer(required uint64) Policy {
	return Policy{Standby: true, RegisterLossyClients: true, FeaturesRequired: required}
}

// LosslessPeerReuse: a lossless peer that also resets when the peer has
// reset its session.
func LosslessPeerReuse(required uint64) Policy {
	return Policy{Standby: true, ResetCheck: true, RegisterLossyClients: true, FeaturesRequired: required}
}

// LossyClient: a client whose session is dropped on any fault (librados to
// mon).
func LossyClient(required uint64) Policy {
	return Policy{Lossy: true, RegisterLossyClients: true, FeaturesRequired: required}
}

// LosslessClient: a client that reconnects and replays, and resets when the
// server has reset (librados to OSD).
func LosslessClient(required uint64) Policy {
	return Policy{ResetCheck: true, RegisterLossyClients: true, FeaturesRequired: required}
}
