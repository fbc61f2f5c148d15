package msgr2

// MsgType is a message type number (CEPH_MSG_* in ceph_fs.h and
// messages/*.h), carried in MsgHeader2.Type.
type MsgType uint16

// Message types with payloads in this package, and a few more for names.
const (
	MsgPing               MsgType = 2
	MsgMonMap             MsgType = 4
	MsgMonGetMap          MsgType = 5
	MsgMonSubscribe       MsgType = 15
	MsgMonSubscribeAck    MsgType = 16
	MsgAuth               MsgType = 17
	MsgAuthReply          MsgType = 18
	MsgMonGetVersion      MsgType = 19
	MsgMonGetVersionReply MsgType = 20
	MsgOSDMap             MsgType = 41
	MsgMonCommand         MsgType = 50
	MsgMonCommandAck      MsgType = 51
	MsgCommand            MsgType = 97
	MsgCommandReply       MsgType = 98
)

var msgTypeNames = map[MsgType]string{
	MsgPing:               "ping",
	MsgMonMap:             "mon_map",
	MsgMonGetMap:          "mon_get_map",
	MsgMonSubscribe:       "mon_subscribe",
	MsgMonSubscribeAck:    "mon_subscribe_ack",
	MsgAuth:               "auth",
	MsgAuthReply:          "auth_reply",
	MsgMonGetVersion:      "mon_get_version",
	MsgMonGetVersionReply: "mon_get_version_reply",
	MsgOSDMap:             "osd_map",
	MsgMonCommand:         "mon_command",
	MsgMonCommandAck:      "mon_command_ack",
	MsgCommand:            "command",
	MsgCommandReply:       "command_reply",
}

// String returns Ceph's name for the type, or the registered name of an
// application type in DefaultRegistry.
func (t MsgType) String() string {
	if s, ok := msgTypeNames[t]; ok {
		return s
	}
	if s := DefaultRegistry.Name(t); s != "" {
		return s
	}
	return "msg(" + itoa(int(t)) + ")"
}

// Message is a typed message payload. The registry builds one from a
// MESSAGE frame; applications add their own types with Register.
type Message interface {
	// Type is the message type number.
	Type() MsgType
	// Versions returns the encoding version the message writes (header
	// version) and the oldest version that can read it (compat version).
	// Ceph sends compat = head when a message does not set it, and so do
	// this package's types.
	Versions() (head, compat uint16)
	// AppendFront appends the encoded front segment.
	AppendFront(dst []byte) []byte
	// DecodeFront decodes the front segment of a message whose header is h.
	DecodeFront(h *MsgHeader2, front []byte) error
}

// DataCarrier is implemented by messages that carry a data segment (such
// as MonCommandAck's command output), which is not part of the front.
type DataCarrier interface {
	DataSegment() []byte
	SetDataSegment(b []byte)
}

// Ping is MPing (CEPH_MSG_PING). A sender's MPing has an empty front; a
// monitor answers with an MPing whose front holds a string with a JSON
// health report. Front keeps the raw front either way.
type Ping struct{ Front []byte }

// Type implements Message.
func (*Ping) Type() MsgType { return MsgPing }

// Versions implements Message.
func (*Ping) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (p *Ping) AppendFront(dst []byte) []byte { return append(dst, p.Front...) }

// DecodeFront implements Message.
func (p *Ping) DecodeFront(_ *MsgHeader2, b []byte) error {
	p.Front = nil
	if len(b) > 0 {
		p.Front = b
	}
	return nil
}

// MonGetMap is MMonGetMap: ask a monitor for its monmap. It is empty.
type MonGetMap struct{}

// Type implements Message.
func (*MonGetMap) Type() MsgType { return MsgMonGetMap }

// Versions implements Message.
func (*MonGetMap) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (*MonGetMap) AppendFront(dst []byte) []byte { return dst }

// DecodeFront implements Message.
func (*MonGetMap) DecodeFront(*MsgHeader2, []byte) error { return nil }

// MonGetVersion is MMonGetVersion: ask for the latest version of a map
// ("osdmap", "monmap", "mdsmap", ...). Handle is echoed in the reply.
type MonGetVersion struct {
	Handle uint64
	What   string
}

// Type implements Message.
func (*MonGetVersion) Type() MsgType { return MsgMonGetVersion }

// Versions implements Message.
func (*MonGetVersion) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *MonGetVersion) AppendFront(dst []byte) []byte {
	return AppendString(AppendU64(dst, m.Handle), m.What)
}

// DecodeFront implements Message.
func (m *MonGetVersion) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Handle = d.U64()
	m.What = d.String()
	return d.result(TagMessage)
}

// MonGetVersionReply is MMonGetVersionReply.
type MonGetVersionReply struct {
	Handle        uint64
	Version       uint64
	OldestVersion uint64 // header version 2 and later
}

// Type implements Message.
func (*MonGetVersionReply) Type() MsgType { return MsgMonGetVersionReply }

// Versions implements Message.
func (*MonGetVersionReply) Versions() (uint16, uint16) { return 2, 2 }

// AppendFront implements Message.
func (m *MonGetVersionReply) AppendFront(dst []byte) []byte {
	return AppendU64(AppendU64(AppendU64(dst, m.Handle), m.Version), m.OldestVersion)
}

// DecodeFront implements Message.
func (m *MonGetVersionReply) DecodeFront(h *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Handle = d.U64()
	m.Version = d.U64()
	if h == nil || h.Version >= 2 {
		m.OldestVersion = d.U64()
	}
	return d.result(TagMessage)
}

// PaxosHeader is the prefix PaxosServiceMessage writes before its
// subclass's fields: le64 version, le16 session_mon, le64 session_mon_tid.
type PaxosHeader struct {
	Version       uint64
	SessionMon    int16 // -1 when unset
	SessionMonTid uint64
}

// AppendPaxosHeader appends p.
func AppendPaxosHeader(dst []byte, p PaxosHeader) []byte {
	return AppendU64(AppendU16(AppendU64(dst, p.Version), uint16(p.SessionMon)), p.SessionMonTid)
}

// PaxosHeader reads a PaxosServiceMessage prefix.
func (d *Decoder) PaxosHeader() PaxosHeader {
	v := d.U64()
	s := int16(d.U16())
	return PaxosHeader{Version: v, SessionMon: s, SessionMonTid: d.U64()}
}

// UUID is a uuid_d (a cluster fsid), encoded as 16 raw bytes.
type UUID [16]byte

// String formats u as 8-4-4-4-12 lowercase hex.
func (u UUID) String() string {
	const hexdigits = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexdigits[c>>4], hexdigits[c&15]
		j += 2
	}
	return string(out[:])
}

// ParseUUID parses the 8-4-4-4-12 hex form (dashes optional).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			continue
		}
		v, ok := unhex(c)
		if !ok || n >= 32 {
			return UUID{}, frameErr(ErrDecode, 0, "bad uuid "+quoteBytes([]byte(s)))
		}
		u[n/2] |= v << (4 * (1 - n%2))
		n++
	}
	if n != 32 {
		return UUID{}, frameErr(ErrDecode, 0, "bad uuid "+quoteBytes([]byte(s)))
	}
	return u, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MonCommand is MMonCommand: a command for the monitor, usually one JSON
// string such as {"prefix": "mon stat"}.
type MonCommand struct {
	Paxos PaxosHeader
	FSID  UUID
	Cmd   []string
}

// Type implements Message.
func (*MonCommand) Type() MsgType { return MsgMonCommand }

// Versions implements Message.
func (*MonCommand) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *MonCommand) AppendFront(dst []byte) []byte {
	dst = AppendPaxosHeader(dst, m.Paxos)
	dst = append(dst, m.FSID[:]...)
	return AppendStringSlice(dst, m.Cmd)
}

// DecodeFront implements Message.
func (m *MonCommand) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Paxos = d.PaxosHeader()
	if p := d.Fixed(16); p != nil {
		m.FSID = UUID(p)
	}
	m.Cmd = d.StringSlice()
	return d.result(TagMessage)
}

// MonCommandAck is MMonCommandAck: the result code, status string and
// echoed command in the front, the command output in the data segment.
type MonCommandAck struct {
	Paxos  PaxosHeader
	Result int32
	Status string
	Cmd    []string
	Output []byte
}

// Type implements Message.
func (*MonCommandAck) Type() MsgType { return MsgMonCommandAck }

// Versions implements Message.
func (*MonCommandAck) Versions() (uint16, uint16) { return 1, 1 }

// AppendFront implements Message.
func (m *MonCommandAck) AppendFront(dst []byte) []byte {
	dst = AppendPaxosHeader(dst, m.Paxos)
	dst = AppendU32(dst, uint32(m.Result))
	dst = AppendString(dst, m.Status)
	return AppendStringSlice(dst, m.Cmd)
}

// DecodeFront implements Message.
func (m *MonCommandAck) DecodeFront(_ *MsgHeader2, b []byte) error {
	d := Decoder{b: b}
	m.Paxos = d.PaxosHeader()
	m.Result = int32(d.U32())
	m.Status = d.String()
	m.Cmd = d.StringSlice()
	return d.result(TagMessage)
}

// DataSegment implements DataCarrier.
func (m *MonCommandAck) DataSegment() []byte { return m.Output }

// SetDataSegment implements DataCarrier.
func (m *MonCommandAck) SetDataSegment(b []byte) { m.Output = b }
