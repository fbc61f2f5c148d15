package msgr2

// Flags of CLIENT_IDENT and SERVER_IDENT (CEPH_MSG_CONNECT_*).
const (
	// IdentLossy marks a lossy connection (CEPH_MSG_CONNECT_LOSSY).
	IdentLossy uint64 = 1
)

// ClientIdent opens a new session (client to server).
type ClientIdent struct {
	Addrs             AddrVec
	TargetAddr        EntityAddr
	GlobalID          int64
	GlobalSeq         uint64
	SupportedFeatures uint64
	RequiredFeatures  uint64
	Flags             uint64
	Cookie            uint64
}

// Tag implements Payload.
func (*ClientIdent) Tag() Tag { return TagClientIdent }

// AppendPayload implements Payload.
func (c *ClientIdent) AppendPayload(dst []byte) []byte {
	dst = AppendAddrVec(dst, c.Addrs)
	dst = AppendEntityAddr(dst, c.TargetAddr)
	dst = AppendU64(dst, uint64(c.GlobalID))
	dst = AppendU64(dst, c.GlobalSeq)
	dst = AppendU64(dst, c.SupportedFeatures)
	dst = AppendU64(dst, c.RequiredFeatures)
	dst = AppendU64(dst, c.Flags)
	return AppendU64(dst, c.Cookie)
}

// DecodePayload implements Payload.
func (c *ClientIdent) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	c.Addrs = d.AddrVec()
	c.TargetAddr = d.EntityAddr()
	c.GlobalID = int64(d.U64())
	c.GlobalSeq = d.U64()
	c.SupportedFeatures = d.U64()
	c.RequiredFeatures = d.U64()
	c.Flags = d.U64()
	c.Cookie = d.U64()
	return d.result(TagClientIdent)
}

// ServerIdent accepts a new session (server to client).
type ServerIdent struct {
	Addrs             AddrVec
	GlobalID          int64
	GlobalSeq         uint64
	SupportedFeatures uint64
	RequiredFeatures  uint64
	Flags             uint64
	Cookie            uint64
}

// Tag implements Payload.
func (*ServerIdent) Tag() Tag { return TagServerIdent }

// AppendPayload implements Payload.
func (s *ServerIdent) AppendPayload(dst []byte) []byte {
	dst = AppendAddrVec(dst, s.Addrs)
	dst = AppendU64(dst, uint64(s.GlobalID))
	dst = AppendU64(dst, s.GlobalSeq)
	dst = AppendU64(dst, s.SupportedFeatures)
	dst = AppendU64(dst, s.RequiredFeatures)
	dst = AppendU64(dst, s.Flags)
	return AppendU64(dst, s.Cookie)
}

// DecodePayload implements Payload.
func (s *ServerIdent) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.Addrs = d.AddrVec()
	s.GlobalID = int64(d.U64())
	s.GlobalSeq = d.U64()
	s.SupportedFeatures = d.U64()
	s.RequiredFeatures = d.U64()
	s.Flags = d.U64()
	s.Cookie = d.U64()
	return d.result(TagServerIdent)
}

// IdentMissingFeatures refuses an ident whose peer lacks required
// features; Features is the missing mask.
type IdentMissingFeatures struct{ Features uint64 }

// Tag implements Payload.
func (*IdentMissingFeatures) Tag() Tag { return TagIdentMissingFeatures }

// AppendPayload implements Payload.
func (m *IdentMissingFeatures) AppendPayload(dst []byte) []byte { return AppendU64(dst, m.Features) }

// DecodePayload implements Payload.
func (m *IdentMissingFeatures) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	m.Features = d.U64()
	return d.result(TagIdentMissingFeatures)
}
