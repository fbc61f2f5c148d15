package msgr2

// Messages to and from daemons besides the monitor commands: MAuth and
// MAuthReply (cephx requests over an open monitor session), MCommand and
// MCommandReply (commands for OSDs and other daemons).

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

// Command is MCommand (MSG_COMMAND): a command for a daemon other than a
// monitor (an OSD, an MDS; `ceph tell osd.0 ...`), usually one JSON
// string such as {"prefix": "version"}. Input, if any, is the data
// segment. The reply carries the same transaction id.
type Command struct {
	FSID  UUID
	Cmd   []string
	Input []byte
}

// Type implements Message.
func (*Command) Type() MsgType { return MsgCommand }

// Versions implements Message.
func (*Command) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *Command) AppendFront(dst []byte) []byte {
	return AppendStringSlice(append(dst, m.FSID[:]...), m.Cmd)
}

// DecodeFront implements Message.
func (m *Command) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	if p := d.Fixed(16); p != nil {
		m.FSID = UUID(p)
	}
	m.Cmd = d.StringSlice()
	return d.result(TagMessage)
}

// DataSegment implements DataCarrier.
func (m *Command) DataSegment() []byte { return m.Input }

// SetDataSegment implements DataCarrier.
func (m *Command) SetDataSegment(b []byte) { m.Input = b }

// CommandReply is MCommandReply (MSG_COMMAND_REPLY): the result code (0
// or a negative errno) and status string in the front, the output in the
// data segment.
type CommandReply struct {
	Result int32
	Status string
	Output []byte
}

// Type implements Message.
func (*CommandReply) Type() MsgType { return MsgCommandReply }

// Versions implements Message.
func (*CommandReply) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *CommandReply) AppendFront(dst []byte) []byte {
	return AppendString(AppendU32(dst, uint32(m.Result)), m.Status)
}

// DecodeFront implements Message.
func (m *CommandReply) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Result = int32(d.U32())
	m.Status = d.String()
	return d.result(TagMessage)
}

// DataSegment implements DataCarrier.
func (m *CommandReply) DataSegment() []byte { return m.Output }

// SetDataSegment implements DataCarrier.
func (m *CommandReply) SetDataSegment(b []byte) { m.Output = b }
