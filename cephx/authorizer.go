package cephx

import (
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Authorizer mode: a client reaches a service (an OSD, a MGR, an MDS, or a
// gomsgr service) not with its own key but with the ticket a monitor gave
// it for that service. The exchange (CephxProtocol.cc, MonClient's
// handle_auth_request) is always two rounds over msgr2:
//
//	client AUTH_REQUEST       Authorizer without a challenge
//	server AUTH_REPLY_MORE    AuthorizeChallenge (under the ticket's session key)
//	client AUTH_REQUEST_MORE  Authorizer answering server_challenge + 1
//	server AUTH_DONE          AuthorizeReply: nonce + 1 and the connection secret
//
// The service opens the ticket with its service secret (a rotating
// secret the monitor shares with every daemon of the type, chosen by the
// ticket's secret id), learns the session key and the client's identity
// from it and proves it could by answering the client's nonce plus one.

// AuthModeAuthorizer is AUTH_MODE_AUTHORIZER: the first byte of an
// authorizer (its struct version) doubles as the auth mode of the
// AUTH_REQUEST payload, which is how a service tells it from a monitor
// request (AuthModeMon).
const AuthModeAuthorizer uint8 = 1

// GeneralSecretID is the ticket secret id (u64 -1) that names the
// service's own key rather than a rotating secret.
const GeneralSecretID = ^uint64(0)

// AuthCaps is AuthCapsInfo: what the ticket's holder may do, as the
// monitor encoded it for the service to interpret.
type AuthCaps struct {
	AllowAll bool
	Caps     []byte
}

// AuthTicket is what a ticket says about its holder (Ceph's AuthTicket,
// encoding version 2).
type AuthTicket struct {
	EntityType uint32 // an Entity* constant
	EntityID   string
	GlobalID   uint64
	Created    Time
	Expires    Time
	Caps       AuthCaps
	Flags      uint32
}

// Name returns the holder as "type.id" ("client.admin").
func (t AuthTicket) Name() string {
	return msgr2.EntityType(t.EntityType).String() + "." + t.EntityID
}

func (t AuthTicket) appendTo(dst []byte) []byte {
	dst = msgr2.AppendU8(dst, 2)
	dst = msgr2.AppendU32(dst, t.EntityType)
	dst = msgr2.AppendString(dst, t.EntityID)
	dst = msgr2.AppendU64(dst, t.GlobalID)
	dst = msgr2.AppendU64(dst, ^uint64(0)) // old auid: CEPH_AUTH_UID_DEFAULT
	dst = appendTime(dst, t.Created)
	dst = appendTime(dst, t.Expires)
	dst = msgr2.AppendU8(dst, 1)
	dst = msgr2.AppendBool(dst, t.Caps.AllowAll)
	dst = msgr2.AppendBytes(dst, t.Caps.Caps)
	return msgr2.AppendU32(dst, t.Flags)
}

func decodeAuthTicket(d *msgr2.Decoder) AuthTicket {
	var t AuthTicket
	v := d.U8()
	t.EntityType = d.U32()
	t.EntityID = d.String()
	t.GlobalID = d.U64()
	if v >= 2 {
		d.U64() // old auid
	}
	t.Created = decodeTime(d)
	t.Expires = decodeTime(d)
	d.U8() // AuthCapsInfo struct_v
	t.Caps.AllowAll = d.U8() != 0
	t.Caps.Caps = d.Bytes()
	t.Flags = d.U32()
	return t
}

// ServiceTicketInfo is the inside of a ticket blob (Ceph's
// CephXServiceTicketInfo): who holds it and the session key it shares
// with the service. Only the service, which knows the secret it was
// sealed with, can open it.
type ServiceTicketInfo struct {
	Ticket     AuthTicket
	SessionKey Key
}

// SealTicket builds the ticket blob a monitor hands a client for a
// service: info sealed under the service secret secretID names
// (cephx_build_service_ticket_blob; the blob is the envelope's
// ciphertext without a length, Ceph's encode_encrypt_enc_bl).
func SealTicket(serviceSecret Key, secretID uint64, info ServiceTicketInfo) TicketBlob {
	blob := sealEnvelope(nil, serviceSecret, func(b []byte) []byte {
		b = msgr2.AppendU8(b, 1)
		b = info.Ticket.appendTo(b)
		return info.SessionKey.Append(b)
	})
	return TicketBlob{SecretID: secretID, Blob: blob}
}

// OpenTicket opens a ticket blob with the service secret its SecretID
// names (cephx_decode_ticket).
func OpenTicket(serviceSecret Key, t TicketBlob) (ServiceTicketInfo, error) {
	if len(t.Blob) == 0 {
		return ServiceTicketInfo{}, fmt.Errorf("%w: empty ticket", ErrDecode)
	}
	plain, err := openEnvelope(serviceSecret, t.Blob)
	if err != nil {
		return ServiceTicketInfo{}, fmt.Errorf("ticket: %w", err)
	}
	d := msgr2.NewDecoder(plain)
	d.U8() // struct_v
	info := ServiceTicketInfo{Ticket: decodeAuthTicket(d)}
	info.SessionKey = decodeKey(d)
	if err := finish(d, "service ticket info"); err != nil {
		return ServiceTicketInfo{}, err
	}
	return info, nil
}

// sealEnvelope appends the ciphertext of {u8 1, magic, value} under k,
// without the u32 length EncodeEncrypt writes (encode_encrypt_enc_bl).
func sealEnvelope(dst []byte, k Key, appendValue func([]byte) []byte) []byte {
	plain := msgr2.AppendU8(nil, 1)
	plain = msgr2.AppendU64(plain, EnvelopeMagic)
	return Encrypt(dst, k, appendValue(plain))
}

// Authorizer is what a client presents to a service: its global id, the
// service's id, the ticket for it, and a nonce the service must answer,
// encrypted under the ticket's session key (CephXTicketHandler::
// build_authorizer).
type Authorizer struct {
	GlobalID   uint64
	ServiceID  uint32
	Ticket     TicketBlob
	SessionKey Key // the ticket's session key: never sent
	Nonce      uint64
}

// Append appends the authorizer to dst, answering the server's challenge
// when challenge is non-nil (CephXAuthorizer::add_challenge): {u8 1, u64
// global id, u32 service id, ticket blob, encode_encrypt(CephXAuthorize
// {u8 2, u64 nonce, bool have_challenge, u64 server_challenge + 1})}.
func (a Authorizer) Append(dst []byte, challenge *uint64) []byte {
	dst = msgr2.AppendU8(dst, AuthModeAuthorizer)
	dst = msgr2.AppendU64(dst, a.GlobalID)
	dst = msgr2.AppendU32(dst, a.ServiceID)
	dst = a.Ticket.Append(dst)
	return EncodeEncrypt(dst, a.SessionKey, func(b []byte) []byte {
		b = msgr2.AppendU8(b, 2)
		b = msgr2.AppendU64(b, a.Nonce)
		b = msgr2.AppendBool(b, challenge != nil)
		var plusOne uint64
		if challenge != nil {
			plusOne = *challenge + 1
		}
		return msgr2.AppendU64(b, plusOne)
	})
}

// AuthorizerRequest is an authorizer as a service first reads it, before
// it knows the session key: the ticket to open and the still-encrypted
// CephXAuthorize.
type AuthorizerRequest struct {
	GlobalID  uint64
	ServiceID uint32
	Ticket    TicketBlob
	Sealed    []byte // encode_encrypt(CephXAuthorize), length included
}

// DecodeAuthorizer reads an authorizer (an AUTH_REQUEST payload in
// authorizer mode).
func DecodeAuthorizer(b []byte) (AuthorizerRequest, error) {
	d := msgr2.NewDecoder(b)
	if v := d.U8(); d.Err() == nil && v != AuthModeAuthorizer {
		return AuthorizerRequest{}, fmt.Errorf("%w: authorizer version %d", ErrDecode, v)
	}
	r := AuthorizerRequest{GlobalID: d.U64(), ServiceID: d.U32()}
	r.Ticket = decodeTicketBlob(d)
	if err := d.Err(); err != nil {
		return AuthorizerRequest{}, decodeErr("authorizer", err)
	}
	r.Sealed = b[d.Offset():]
	return r, nil
}

// Authorize is the decrypted CephXAuthorize of an authorizer.
type Authorize struct {
	Nonce                  uint64
	HaveChallenge          bool
	ServerChallengePlusOne uint64
}

// Open decrypts the authorizer's CephXAuthorize with the session key
// found in its ticket.
func (r AuthorizerRequest) Open(sessionKey Key) (Authorize, error) {
	v, n, err := DecodeDecrypt(sessionKey, r.Sealed)
	if err != nil {
		return Authorize{}, fmt.Errorf("authorize: %w", err)
	}
	if n != len(r.Sealed) {
		return Authorize{}, fmt.Errorf("%w: authorizer: %d trailing bytes", ErrDecode, len(r.Sealed)-n)
	}
	d := msgr2.NewDecoder(v)
	var a Authorize
	sv := d.U8()
	a.Nonce = d.U64()
	if sv >= 2 {
		a.HaveChallenge = d.U8() != 0
		a.ServerChallengePlusOne = d.U64()
	}
	if err := finish(d, "authorize"); err != nil {
		return Authorize{}, err
	}
	return a, nil
}

// AppendAuthorizeChallenge appends a service's challenge to an
// authorizer without one: CephXAuthorizeChallenge {u8 1, u64} sealed
// under the session key, without a length (the whole AUTH_REPLY_MORE
// payload).
func AppendAuthorizeChallenge(dst []byte, sessionKey Key, challenge uint64) []byte {
	return sealEnvelope(dst, sessionKey, func(b []byte) []byte {
		return msgr2.AppendU64(msgr2.AppendU8(b, 1), challenge)
	})
}

// OpenAuthorizeChallenge decrypts a service's challenge.
func OpenAuthorizeChallenge(sessionKey Key, b []byte) (uint64, error) {
	v, err := openEnvelope(sessionKey, b)
	if err != nil {
		return 0, fmt.Errorf("authorize challenge: %w", err)
	}
	d := msgr2.NewDecoder(v)
	d.U8()
	c := d.U64()
	if err := finish(d, "authorize challenge"); err != nil {
		return 0, err
	}
	return c, nil
}

// AuthorizeReply is a service's proof (CephXAuthorizeReply): the
// client's nonce plus one and, in secure mode, the connection secret.
type AuthorizeReply struct {
	NoncePlusOne     uint64
	ConnectionSecret []byte
}

// Append appends the reply encode_encrypt-ed under the session key (the
// AUTH_DONE payload of authorizer mode): struct version 2 with a
// connection secret, 1 without.
func (r AuthorizeReply) Append(dst []byte, sessionKey Key) []byte {
	return EncodeEncrypt(dst, sessionKey, func(b []byte) []byte {
		if len(r.ConnectionSecret) == 0 {
			return msgr2.AppendU64(msgr2.AppendU8(b, 1), r.NoncePlusOne)
		}
		b = msgr2.AppendU64(msgr2.AppendU8(b, 2), r.NoncePlusOne)
		return msgr2.AppendBytes(b, r.ConnectionSecret)
	})
}

// DecodeAuthorizeReply decrypts an AUTH_DONE payload of authorizer mode.
func DecodeAuthorizeReply(sessionKey Key, b []byte) (AuthorizeReply, error) {
	v, n, err := DecodeDecrypt(sessionKey, b)
	if err != nil {
		return AuthorizeReply{}, fmt.Errorf("authorize reply: %w", err)
	}
	if n != len(b) {
		return AuthorizeReply{}, fmt.Errorf("%w: authorize reply: %d trailing bytes", ErrDecode, len(b)-n)
	}
	d := msgr2.NewDecoder(v)
	var r AuthorizeReply
	sv := d.U8()
	r.NoncePlusOne = d.U64()
	if sv >= 2 {
		r.ConnectionSecret = d.Bytes()
	}
	if err := finish(d, "authorize reply"); err != nil {
		return AuthorizeReply{}, err
	}
	return r, nil
}
