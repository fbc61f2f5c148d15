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
// # Caveats
//
// gomsgr servers run the monitor's exchange (AUTH_MODE_MON) with every
// peer type; the authorizer that Ceph's OSDs, MGRs and MDSs expect
// (a service ticket from a monitor) and ticket renewal are not
// implemented yet, so a gomsgr client reaches Ceph monitors only.
package auth
