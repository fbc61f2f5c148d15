package msgr2

// MonAuth is MAuth (CEPH_MSG_AUTH): an auth request to a monitor after the
// session is open (ticket renewals, service tickets, rotating secrets),
// or, in msgr1, the whole exchange. Payload is the auth method's request
// (a cephx request header and its body).
type MonAuth struct {
	Paxos       PaxosHeader
	Protocol    uint32 // the auth method: AuthCephx
	Payload     []byte
	MonMapEpoch uint32
}

// Type implements Message.
func (*MonAuth) Type() MsgType { return MsgAuth }

// Versions implements Message.
func (*MonAuth) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *MonAuth) AppendFront(dst []byte) []byte {
	dst = AppendPaxosHeader(dst, m.Paxos)
	dst = AppendU32(dst, m.Protocol)
	dst = AppendBytes(dst, m.Payload)
	return AppendU32(dst, m.MonMapEpoch)
}

// DecodeFront implements Message. The monmap epoch is optional, as in
// Ceph.
func (m *MonAuth) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Paxos = d.PaxosHeader()
	m.Protocol = d.U32()
	m.Payload = d.Bytes()
	m.MonMapEpoch = 0
	if d.err == nil && d.Remaining() > 0 {
		m.MonMapEpoch = d.U32()
	}
	return d.result(TagMessage)
}

// MonAuthReply is MAuthReply (CEPH_MSG_AUTH_REPLY): a monitor's answer to
// MonAuth. Result is 0 or a negative errno; Payload holds the auth
// method's response.
type MonAuthReply struct {
	Protocol uint32
	Result   int32
	GlobalID uint64
	Payload  []byte
	Msg      string
}

// Type implements Message.
func (*MonAuthReply) Type() MsgType { return MsgAuthReply }

// Versions implements Message.
func (*MonAuthReply) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *MonAuthReply) AppendFront(dst []byte) []byte {
	dst = AppendU32(dst, m.Protocol)
	dst = AppendU32(dst, uint32(m.Result))
	dst = AppendU64(dst, m.GlobalID)
	dst = AppendBytes(dst, m.Payload)
	return AppendString(dst, m.Msg)
}

// DecodeFront implements Message.
func (m *MonAuthReply) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Protocol = d.U32()
	m.Result = int32(d.U32())
	m.GlobalID = d.U64()
	m.Payload = d.Bytes()
	m.Msg = d.String()
	return d.result(TagMessage)
}
