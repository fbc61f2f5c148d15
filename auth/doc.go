// Package auth configures how a gomsgr messenger authenticates its peers
// and protects its connections: the auth methods it offers and accepts
// (none, cephx) and the connection modes (crc, secure), in preference
// order, after Ceph's auth_*_required and ms_*_mode options.
//
// A Config with a Key makes a messenger a cephx client: it proves its
// identity to servers (a Ceph monitor or another gomsgr messenger) with
// the monitor's exchange (AUTH_REQUEST, AUTH_REPLY_MORE with the server's
// challenge, AUTH_REQUEST_MORE with the client's proof, AUTH_DONE with the
// session key), then both sides sign the handshake (AUTH_SIGNATURE, an
// HMAC-SHA256 under the session key). A Config with a Keyring makes it a
// cephx server: it runs the same exchange as a monitor does, accepting
// only the entities in the keyring whose key proves right, so that two
// gomsgr services can require cephx of each other.
//
// The zero Config keeps today's behaviour: auth none in crc mode, both
// ways. A messenger whose methods do not include none never opens a
// session without authentication.
//
// # Services: authorizer mode
//
// A monitor's exchange gives a client more than its session: tickets for
// the services it asked for (OSDs, MGRs). The client keeps them in its
// Tickets and, when it connects with cephx to a peer that is not a
// monitor, presents the ticket for that peer's type (Ceph's authorizer
// mode: the ticket, a nonce under the ticket's session key, the service's
// challenge answered). A service opens tickets with its ServiceSecrets,
// which a Ceph daemon fetches from the monitors (monc keeps them in a
// *Rotating); it needs no keyring of its clients. A gomsgr server with a
// Keyring and a *Rotating issues such tickets itself, so a gomsgr
// cluster without Ceph monitors can use the same scheme.
//
// # Caveats
//
// A client without a valid ticket for a service runs the monitor
// exchange with it, which only a server with a Keyring accepts. Tickets
// expire (TicketTTL on a gomsgr server, auth_service_ticket_ttl on a Ceph
// monitor); monc renews them.
package auth
