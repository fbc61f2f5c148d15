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
	// advertised and required in the session handshake.
	FeaturesSupported, FeaturesRequired uint64
	// ThrottleBytes and ThrottleMessages bound the bytes and messages
	// received from peers of this type that are not yet released by the
	// dispatcher; zero means no limit.
	ThrottleBytes, ThrottleMessages int64
}

// The seven policy presets of Ceph's Messenger::Policy.

// StatefulServer: a lossless server; the client reconnects, this side keeps
// the session and replays (OSD to client with lossless sessions).
func StatefulServer(supported uint64) Policy {
	return Policy{Server: true, FeaturesSupported: supported}
}

// StatelessServer: a lossy server (mon and OSD facing clients).
func StatelessServer(supported uint64) Policy {
	return Policy{Lossy: true, Server: true, FeaturesSupported: supported}
}

// StatelessRegisteredServer: a lossy server that registers its lossy client
// connections so that it can send to them by address.
func StatelessRegisteredServer(supported uint64) Policy {
	return Policy{Lossy: true, Server: true, RegisterLossyClients: true, FeaturesSupported: supported}
}

// LosslessPeer: both sides may connect and reconnect; sessions are kept.
func LosslessPeer(supported uint64) Policy {
	return Policy{ResetCheck: true, FeaturesSupported: supported}
}

// LosslessPeerReuse: a lossless peer that goes to STANDBY when idle after a
// fault and reuses its session (OSD to OSD).
func LosslessPeerReuse(supported uint64) Policy {
	return Policy{Standby: true, ResetCheck: true, FeaturesSupported: supported}
}

// LossyClient: a client whose sessions are dropped on any fault (librados
// to mon).
func LossyClient(supported uint64) Policy {
	return Policy{Lossy: true, FeaturesSupported: supported}
}

// LosslessClient: a client that reconnects and replays, and resets when the
// server has reset (librados to OSD).
func LosslessClient(supported uint64) Policy {
	return Policy{ResetCheck: true, FeaturesSupported: supported}
}
