package msgr2

import (
	"crypto/hmac"
	"crypto/sha256"
)

// AuthMethod is a CEPH_AUTH_* method number.
type AuthMethod uint32

// Auth methods.
const (
	AuthUnknown AuthMethod = 0
	AuthNone    AuthMethod = 1
	AuthCephx   AuthMethod = 2
)

// String returns Ceph's name for the method.
func (m AuthMethod) String() string {
	switch m {
	case AuthUnknown:
		return "unknown"
	case AuthNone:
		return "none"
	case AuthCephx:
		return "cephx"
	}
	return "method(" + utoa(uint64(m)) + ")"
}

// ConMode is a connection mode (CEPH_CON_MODE_*) negotiated during auth.
type ConMode uint32

// Connection modes.
const (
	ConModeUnknown ConMode = 0
	ConModeCRC     ConMode = 1
	ConModeSecure  ConMode = 2
)

// String returns Ceph's name for the mode.
func (m ConMode) String() string {
	switch m {
	case ConModeUnknown:
		return "unknown"
	case ConModeCRC:
		return "crc"
	case ConModeSecure:
		return "secure"
	}
	return "mode(" + utoa(uint64(m)) + ")"
}

// AuthRequest starts authentication (client to server).
type AuthRequest struct {
	Method         AuthMethod
	PreferredModes []ConMode
	Payload        []byte
}

// Tag implements Payload.
func (*AuthRequest) Tag() Tag { return TagAuthRequest }

// AppendPayload implements Payload.
func (a *AuthRequest) AppendPayload(dst []byte) []byte {
	dst = AppendU32(dst, uint32(a.Method))
	dst = AppendU32(dst, uint32(len(a.PreferredModes)))
	for _, m := range a.PreferredModes {
		dst = AppendU32(dst, uint32(m))
	}
	return AppendBytes(dst, a.Payload)
}

// DecodePayload implements Payload.
func (a *AuthRequest) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.Method = AuthMethod(d.U32())
	a.PreferredModes = conModes(d.U32Slice())
	a.Payload = d.Bytes()
	return d.result(TagAuthRequest)
}

func conModes(v []uint32) []ConMode {
	if v == nil {
		return nil
	}
	m := make([]ConMode, len(v))
	for i, x := range v {
		m[i] = ConMode(x)
	}
	return m
}

// AuthBadMethod rejects the requested method and lists the acceptable ones.
type AuthBadMethod struct {
	Method         AuthMethod
	Result         int32
	AllowedMethods []AuthMethod
	AllowedModes   []ConMode
}

// Tag implements Payload.
func (*AuthBadMethod) Tag() Tag { return TagAuthBadMethod }

// AppendPayload implements Payload.
func (a *AuthBadMethod) AppendPayload(dst []byte) []byte {
	dst = AppendU32(dst, uint32(a.Method))
	dst = AppendU32(dst, uint32(a.Result))
	dst = AppendU32(dst, uint32(len(a.AllowedMethods)))
	for _, m := range a.AllowedMethods {
		dst = AppendU32(dst, uint32(m))
	}
	dst = AppendU32(dst, uint32(len(a.AllowedModes)))
	for _, m := range a.AllowedModes {
		dst = AppendU32(dst, uint32(m))
	}
	return dst
}

// DecodePayload implements Payload.
func (a *AuthBadMethod) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.Method = AuthMethod(d.U32())
	a.Result = int32(d.U32())
	if v := d.U32Slice(); v != nil {
		a.AllowedMethods = make([]AuthMethod, len(v))
		for i, x := range v {
			a.AllowedMethods[i] = AuthMethod(x)
		}
	}
	a.AllowedModes = conModes(d.U32Slice())
	return d.result(TagAuthBadMethod)
}

// AuthReplyMore carries a server's auth challenge.
type AuthReplyMore struct{ Payload []byte }

// Tag implements Payload.
func (*AuthReplyMore) Tag() Tag { return TagAuthReplyMore }

// AppendPayload implements Payload.
func (a *AuthReplyMore) AppendPayload(dst []byte) []byte { return AppendBytes(dst, a.Payload) }

// DecodePayload implements Payload.
func (a *AuthReplyMore) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.Payload = d.Bytes()
	return d.result(TagAuthReplyMore)
}

// AuthRequestMore carries a client's answer to an AuthReplyMore.
type AuthRequestMore struct{ Payload []byte }

// Tag implements Payload.
func (*AuthRequestMore) Tag() Tag { return TagAuthRequestMore }

// AppendPayload implements Payload.
func (a *AuthRequestMore) AppendPayload(dst []byte) []byte { return AppendBytes(dst, a.Payload) }

// DecodePayload implements Payload.
func (a *AuthRequestMore) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.Payload = d.Bytes()
	return d.result(TagAuthRequestMore)
}

// AuthDone ends authentication successfully: the client's global id, the
// connection mode chosen and a method-specific payload.
type AuthDone struct {
	GlobalID uint64
	ConMode  ConMode
	Payload  []byte
}

// Tag implements Payload.
func (*AuthDone) Tag() Tag { return TagAuthDone }

// AppendPayload implements Payload.
func (a *AuthDone) AppendPayload(dst []byte) []byte {
	dst = AppendU64(dst, a.GlobalID)
	dst = AppendU32(dst, uint32(a.ConMode))
	return AppendBytes(dst, a.Payload)
}

// DecodePayload implements Payload.
func (a *AuthDone) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.GlobalID = d.U64()
	a.ConMode = ConMode(d.U32())
	a.Payload = d.Bytes()
	return d.result(TagAuthDone)
}

// SignatureSize is the size of an AUTH_SIGNATURE (a SHA-256 digest).
const SignatureSize = sha256.Size

// AuthSignature proves that both sides saw the same pre-auth bytes. It is
// encoded as 32 raw bytes, without a length.
type AuthSignature struct{ Signature [SignatureSize]byte }

// Tag implements Payload.
func (*AuthSignature) Tag() Tag { return TagAuthSignature }

// AppendPayload implements Payload.
func (a *AuthSignature) AppendPayload(dst []byte) []byte { return append(dst, a.Signature[:]...) }

// DecodePayload implements Payload.
func (a *AuthSignature) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	if p := d.Fixed(SignatureSize); p != nil {
		a.Signature = [SignatureSize]byte(p)
	}
	return d.result(TagAuthSignature)
}

// Signature computes the AUTH_SIGNATURE a side sends, following
// ProtocolV2: the HMAC-SHA256, keyed by the session key, of the bytes the
// side received while its pre-auth recording was on. For a client that is
// every byte from the start of the connection (the server's banner)
// through the AUTH_DONE frame; a side checks the peer's signature against
// Signature(key, bytes it sent over the same span). When the session key
// is empty, as with auth method none, the signature is 32 zero bytes, not
// an HMAC with an empty key (checked against a real ceph-mon).
func Signature(sessionKey, received []byte) [SignatureSize]byte {
	var sig [SignatureSize]byte
	if len(sessionKey) == 0 {
		return sig
	}
	m := hmac.New(sha256.New, sessionKey)
	m.Write(received)
	m.Sum(sig[:0])
	return sig
}

// AuthModeMon is the first byte of an AUTH_REQUEST payload sent to a
// monitor (AUTH_MODE_MON); AUTH_MODE_AUTHORIZER (1) is used for other daemons.
const AuthModeMon = 10

// MonAuthRequest is the payload of an AUTH_REQUEST a client sends to a
// monitor: u8 AUTH_MODE_MON, the auth entity name, le64 global id (0 on a
// first connection), then method-specific bytes (none for auth none).
type MonAuthRequest struct {
	Name     AuthName
	GlobalID uint64
	Extra    []byte
}

// Append appends the encoded request.
func (r *MonAuthRequest) Append(dst []byte) []byte {
	dst = append(dst, AuthModeMon)
	dst = AppendAuthName(dst, r.Name)
	dst = AppendU64(dst, r.GlobalID)
	return append(dst, r.Extra...)
}

// Decode decodes a request; Extra aliases b.
func (r *MonAuthRequest) Decode(b []byte) error {
	d := Decoder{b: b}
	if m := d.U8(); d.err == nil && m != AuthModeMon {
		d.Fail("auth mode " + itoa(int(m)) + ", want AUTH_MODE_MON")
		return d.result(TagAuthRequest)
	}
	r.Name = d.AuthName()
	r.GlobalID = d.U64()
	r.Extra = d.Fixed(d.Remaining())
	return d.result(TagAuthRequest)
}
