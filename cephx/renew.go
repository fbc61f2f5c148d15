package cephx

import (
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Requests after authentication. Once a session with a monitor is open,
// a client sends further cephx requests inside MAuth messages (msgr2's
// MsgAuth) and reads the answers from MAuthReply (MsgAuthReply):
//
//   - GetAuthSessionKey again, with the old auth ticket, to renew it
//     before it expires (the new ticket blob comes encrypted under the old
//     session key);
//   - GetPrincipalSession for service tickets (an authorizer for the auth
//     service proves the client holds its auth ticket);
//   - GetRotatingKey, by daemons (OSD, MDS, MGR, and gomsgr services), for
//     the rotating secrets that open the tickets clients present to them.

// minRotatingKeyBytes is the smallest encoding of one rotating secret
// (u64 id, u8 v, a 28-byte key, an 8-byte time); it bounds the count by
// the input size.
const minRotatingKeyBytes = 8 + 1 + 28 + 8

// AppendPrincipalRequest appends a GetPrincipalSession request for the
// services in keys (Entity* bits): the request header, an authorizer for
// the auth service built from the auth ticket, and
// CephXServiceTicketRequest {u8 1, u32 keys}.
func AppendPrincipalRequest(dst []byte, auth Authorizer, keys uint32) []byte {
	dst = msgr2.AppendU16(dst, GetPrincipalSession)
	dst = auth.Append(dst, nil)
	dst = msgr2.AppendU8(dst, 1)
	return msgr2.AppendU32(dst, keys)
}

// AppendRotatingRequest appends a GetRotatingKey request: the header
// alone.
func AppendRotatingRequest(dst []byte) []byte { return msgr2.AppendU16(dst, GetRotatingKey) }

// ParseTicketReply decodes the cephx answer to a GetAuthSessionKey
// renewal or a GetPrincipalSession request (an MAuthReply's result): the
// response header, then a service-ticket reply encrypted under principal
// (the client's key for a renewal, the auth session key for service
// tickets); ticket blobs may be encrypted under ticketKey (the old auth
// session key of a renewal). Any fields after the tickets (a renewal's
// connection secret and extra tickets) are returned undecoded in rest.
func ParseTicketReply(payload []byte, want uint16, principal Key, ticketKey *Key) (tickets []Ticket, rest []byte, err error) {
	d := msgr2.NewDecoder(payload)
	if err := expectResponse(d, want); err != nil {
		return nil, nil, err
	}
	tickets, err = decodeServiceTicketReply(d, principal, ticketKey)
	if err != nil {
		return nil, nil, err
	}
	return tickets, payload[d.Offset():], nil
}

// ExpiringKey is one rotating service secret (ExpiringCryptoKey) and the
// secret id tickets name it by.
type ExpiringKey struct {
	ID         uint64
	Key        Key
	Expiration Time
}

// RotatingSecrets is a service type's current secrets, oldest first
// (Ceph keeps three: previous, current, next).
type RotatingSecrets struct {
	Keys   []ExpiringKey
	MaxVer uint64
}

// Lookup returns the secret with id.
func (r RotatingSecrets) Lookup(id uint64) (Key, bool) {
	for _, k := range r.Keys {
		if k.ID == id {
			return k.Key, true
		}
	}
	return Key{}, false
}

// Current returns the secret a monitor seals new tickets with (the second
// oldest: KeyServer::get_service_secret), or the newest when there are
// fewer than two.
func (r RotatingSecrets) Current() (ExpiringKey, bool) {
	switch len(r.Keys) {
	case 0:
		return ExpiringKey{}, false
	case 1:
		return r.Keys[0], true
	}
	return r.Keys[1], true
}

// Append appends the encoding of r (u8 1, map<u64, ExpiringCryptoKey>,
// u64 max_ver), for tests and servers.
func (r RotatingSecrets) Append(dst []byte) []byte {
	dst = msgr2.AppendU8(dst, 1)
	dst = msgr2.AppendU32(dst, uint32(len(r.Keys)))
	for _, k := range r.Keys {
		dst = msgr2.AppendU64(dst, k.ID)
		dst = msgr2.AppendU8(dst, 1)
		dst = k.Key.Append(dst)
		dst = appendTime(dst, k.Expiration)
	}
	return msgr2.AppendU64(dst, r.MaxVer)
}

// ParseRotatingReply decodes the answer to a GetRotatingKey request: the
// response header and RotatingSecrets encode_encrypt-ed under the
// daemon's own key.
func ParseRotatingReply(payload []byte, secret Key) (RotatingSecrets, error) {
	d := msgr2.NewDecoder(payload)
	if err := expectResponse(d, GetRotatingKey); err != nil {
		return RotatingSecrets{}, err
	}
	v, _, err := DecodeDecrypt(secret, payload[d.Offset():])
	if err != nil {
		return RotatingSecrets{}, fmt.Errorf("rotating secrets: %w", err)
	}
	sd := msgr2.NewDecoder(v)
	sd.U8()
	n := sd.U32()
	if err := sd.Err(); err != nil {
		return RotatingSecrets{}, decodeErr("rotating secrets", err)
	}
	if uint64(n) > uint64(sd.Remaining()/minRotatingKeyBytes) {
		return RotatingSecrets{}, fmt.Errorf("%w: %d rotating secrets in %d bytes", ErrDecode, n, sd.Remaining())
	}
	r := RotatingSecrets{Keys: make([]ExpiringKey, 0, n)}
	for range n {
		k := ExpiringKey{ID: sd.U64()}
		sd.U8()
		k.Key = decodeKey(sd)
		k.Expiration = decodeTime(sd)
		r.Keys = append(r.Keys, k)
	}
	r.MaxVer = sd.U64()
	if err := finish(sd, "rotating secrets"); err != nil {
		return RotatingSecrets{}, err
	}
	return r, nil
}
