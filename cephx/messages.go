package cephx

import (
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// AuthModeMon is AUTH_MODE_MON, the first byte of a cephx AUTH_REQUEST
// payload sent to a monitor.
const AuthModeMon uint8 = 10

// Request types of CephXRequestHeader and CephXResponseHeader.
const (
	GetAuthSessionKey   uint16 = 0x0100 // CEPHX_GET_AUTH_SESSION_KEY
	GetPrincipalSession uint16 = 0x0200 // CEPHX_GET_PRINCIPAL_SESSION_KEY
	GetRotatingKey      uint16 = 0x0400 // CEPHX_GET_ROTATING_KEY
)

// Entity types (CEPH_ENTITY_TYPE_*) as cephx uses them: a request's
// entity name, Authenticate.OtherKeys bits and ticket service ids.
const (
	EntityMon    uint32 = 0x01
	EntityMDS    uint32 = 0x02
	EntityOSD    uint32 = 0x04
	EntityClient uint32 = 0x08
	EntityMgr    uint32 = 0x10
	EntityAuth   uint32 = 0x20
)

func decodeErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrDecode, what, err)
}

// finish fails d unless all input was consumed and wraps its error.
func finish(d *msgr2.Decoder, what string) error {
	if d.Err() == nil && d.Remaining() != 0 {
		d.Fail(fmt.Sprintf("%d trailing bytes", d.Remaining()))
	}
	if err := d.Err(); err != nil {
		return decodeErr(what, err)
	}
	return nil
}

// MonAuthRequest is the cephx payload of a client's first AUTH_REQUEST
// to a monitor (MonConnection::get_auth_request): u8 AuthModeMon,
// EntityName {u32 type, string id}, u64 global_id (0 for a new client).
type MonAuthRequest struct {
	EntityType uint32
	EntityID   string
	GlobalID   uint64
}

// Append appends the payload to dst.
func (r MonAuthRequest) Append(dst []byte) []byte {
	dst = msgr2.AppendU8(dst, AuthModeMon)
	dst = msgr2.AppendU32(dst, r.EntityType)
	dst = msgr2.AppendString(dst, r.EntityID)
	return msgr2.AppendU64(dst, r.GlobalID)
}

// DecodeMonAuthRequest decodes a MonAuthRequest payload.
func DecodeMonAuthRequest(b []byte) (MonAuthRequest, error) {
	d := msgr2.NewDecoder(b)
	if mode := d.U8(); d.Err() == nil && mode != AuthModeMon {
		d.Fail(fmt.Sprintf("auth mode %d, want %d", mode, AuthModeMon))
	}
	r := MonAuthRequest{EntityType: d.U32(), EntityID: d.String(), GlobalID: d.U64()}
	if err := finish(d, "mon auth request"); err != nil {
		return MonAuthRequest{}, err
	}
	return r, nil
}

// ServerChallenge is CephXServerChallenge, the AUTH_REPLY_MORE payload:
// u8 version 1, u64 server_challenge.
type ServerChallenge struct {
	Challenge uint64
}

// Append appends the encoding of c to dst.
func (c ServerChallenge) Append(dst []byte) []byte {
	return msgr2.AppendU64(msgr2.AppendU8(dst, 1), c.Challenge)
}

// DecodeServerChallenge decodes a CephXServerChallenge.
func DecodeServerChallenge(b []byte) (ServerChallenge, error) {
	d := msgr2.NewDecoder(b)
	d.U8() // struct_v: Ceph's decoder ignores it
	c := ServerChallenge{Challenge: d.U64()}
	if err := finish(d, "server challenge"); err != nil {
		return ServerChallenge{}, err
	}
	return c, nil
}

// TicketBlob is CephXTicketBlob: u8 version 1, u64 secret_id and the
// ticket itself, opaque to the client (encrypted with a service secret).
type TicketBlob struct {
	SecretID uint64
	Blob     []byte
}

// Append appends the encoding of t to dst.
func (t TicketBlob) Append(dst []byte) []byte {
	dst = msgr2.AppendU8(dst, 1)
	dst = msgr2.AppendU64(dst, t.SecretID)
	return msgr2.AppendBytes(dst, t.Blob)
}

func decodeTicketBlob(d *msgr2.Decoder) TicketBlob {
	d.U8() // struct_v
	return TicketBlob{SecretID: d.U64(), Blob: d.Bytes()}
}

// DecodeTicketBlob decodes a CephXTicketBlob; Blob aliases b.
func DecodeTicketBlob(b []byte) (TicketBlob, error) {
	d := msgr2.NewDecoder(b)
	t := decodeTicketBlob(d)
	if err := finish(d, "ticket blob"); err != nil {
		return TicketBlob{}, err
	}
	return t, nil
}

// Authenticate is a CEPHX_GET_AUTH_SESSION_KEY request, the payload of
// AUTH_REQUEST_MORE: CephXRequestHeader {u16 request type} followed by
// CephXAuthenticate {u8 version 3, u64 client_challenge, u64 key,
// CephXTicketBlob old_ticket, u32 other_keys}.
type Authenticate struct {
	ClientChallenge uint64
	// Key is ChallengeKey(secret, server challenge, ClientChallenge).
	Key       uint64
	OldTicket TicketBlob
	// OtherKeys is the set of services (Entity* bits) the client wants
	// tickets for besides the auth service.
	OtherKeys uint32
}

// Append appends the request header and the CephXAuthenticate to dst.
func (a Authenticate) Append(dst []byte) []byte {
	dst = msgr2.AppendU16(dst, GetAuthSessionKey)
	dst = msgr2.AppendU8(dst, 3)
	dst = msgr2.AppendU64(dst, a.ClientChallenge)
	dst = msgr2.AppendU64(dst, a.Key)
	dst = a.OldTicket.Append(dst)
	return msgr2.AppendU32(dst, a.OtherKeys)
}

// DecodeAuthenticate decodes a request header of type
// GetAuthSessionKey and its CephXAuthenticate. As in Ceph, other_keys is
// read only from version 2 on.
func DecodeAuthenticate(b []byte) (Authenticate, error) {
	d := msgr2.NewDecoder(b)
	if t := d.U16(); d.Err() == nil && t != GetAuthSessionKey {
		d.Fail(fmt.Sprintf("request type %#x, want %#x", t, GetAuthSessionKey))
	}
	v := d.U8()
	a := Authenticate{ClientChallenge: d.U64(), Key: d.U64(), OldTicket: decodeTicketBlob(d)}
	if v >= 2 {
		a.OtherKeys = d.U32()
	}
	if err := finish(d, "authenticate"); err != nil {
		return Authenticate{}, err
	}
	return a, nil
}

// ResponseHeader is CephXResponseHeader: u16 request type, s32 status
// (0 or a negative errno).
type ResponseHeader struct {
	RequestType uint16
	Status      int32
}

// Append appends the encoding of h to dst.
func (h ResponseHeader) Append(dst []byte) []byte {
	return msgr2.AppendU32(msgr2.AppendU16(dst, h.RequestType), uint32(h.Status))
}

func decodeResponseHeader(d *msgr2.Decoder) ResponseHeader {
	return ResponseHeader{RequestType: d.U16(), Status: int32(d.U32())}
}

// DecodeResponseHeader decodes a CephXResponseHeader from the start of b
// and returns it with the number of bytes consumed.
func DecodeResponseHeader(b []byte) (ResponseHeader, int, error) {
	d := msgr2.NewDecoder(b)
	h := decodeResponseHeader(d)
	if err := d.Err(); err != nil {
		return ResponseHeader{}, 0, decodeErr("response header", err)
	}
	return h, d.Offset(), nil
}

// expectResponse reads a CephXResponseHeader from d and checks that it
// answers a request of type want with status 0 (a non-zero status wraps
// ErrAuthFailed).
func expectResponse(d *msgr2.Decoder, want uint16) error {
	h := decodeResponseHeader(d)
	if err := d.Err(); err != nil {
		return decodeErr("response header", err)
	}
	if h.RequestType != want {
		return fmt.Errorf("%w: response type %#x, want %#x", ErrDecode, h.RequestType, want)
	}
	if h.Status != 0 {
		return fmt.Errorf("%w: status %d", ErrAuthFailed, h.Status)
	}
	return nil
}
