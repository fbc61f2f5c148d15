package msgr2

import "encoding/binary"

// MsgHeader2Size is the size of ceph_msg_header2 on the wire.
const MsgHeader2Size = 41

// Message priorities (CEPH_MSG_PRIO_*).
const (
	PrioLow     = 64
	PrioDefault = 127
	PrioHigh    = 196
	PrioHighest = 255
)

// MsgHeader2 is ceph_msg_header2, segment 0 of a MESSAGE frame. Segment
// lengths are not in it: the frame preamble carries them.
type MsgHeader2 struct {
	Seq               uint64
	Tid               uint64
	Type              MsgType
	Priority          uint16
	Version           uint16
	DataPrePaddingLen uint32
	DataOff           uint16
	AckSeq            uint64
	Flags             uint8
	CompatVersion     uint16
	Reserved          uint16
}

// Put writes h into b, which must hold MsgHeader2Size bytes.
func (h *MsgHeader2) Put(b []byte) {
	b = b[:MsgHeader2Size]
	binary.LittleEndian.PutUint64(b[0:], h.Seq)
	binary.LittleEndian.PutUint64(b[8:], h.Tid)
	binary.LittleEndian.PutUint16(b[16:], uint16(h.Type))
	binary.LittleEndian.PutUint16(b[18:], h.Priority)
	binary.LittleEndian.PutUint16(b[20:], h.Version)
	binary.LittleEndian.PutUint32(b[22:], h.DataPrePaddingLen)
	binary.LittleEndian.PutUint16(b[26:], h.DataOff)
	binary.LittleEndian.PutUint64(b[28:], h.AckSeq)
	b[36] = h.Flags
	binary.LittleEndian.PutUint16(b[37:], h.CompatVersion)
	binary.LittleEndian.PutUint16(b[39:], h.Reserved)
}

// AppendMsgHeader2 appends h.
func AppendMsgHeader2(dst []byte, h *MsgHeader2) []byte {
	n := len(dst)
	dst = append(dst, zeroPreamble[:MsgHeader2Size-PreambleSize]...)
	dst = append(dst, zeroPreamble[:]...)
	h.Put(dst[n:])
	return dst
}

// ParseMsgHeader2 decodes a ceph_msg_header2 from the start of b.
func ParseMsgHeader2(b []byte) (MsgHeader2, error) {
	var h MsgHeader2
	if len(b) < MsgHeader2Size {
		return h, frameErr(ErrDecode, TagMessage, "header segment is "+itoa(len(b))+" bytes, want "+itoa(MsgHeader2Size))
	}
	h.Seq = binary.LittleEndian.Uint64(b[0:])
	h.Tid = binary.LittleEndian.Uint64(b[8:])
	h.Type = MsgType(binary.LittleEndian.Uint16(b[16:]))
	h.Priority = binary.LittleEndian.Uint16(b[18:])
	h.Version = binary.LittleEndian.Uint16(b[20:])
	h.DataPrePaddingLen = binary.LittleEndian.Uint32(b[22:])
	h.DataOff = binary.LittleEndian.Uint16(b[26:])
	h.AckSeq = binary.LittleEndian.Uint64(b[28:])
	h.Flags = b[36]
	h.CompatVersion = binary.LittleEndian.Uint16(b[37:])
	h.Reserved = binary.LittleEndian.Uint16(b[39:])
	return h, nil
}

// MsgFooterSize is the size of ceph_msg_footer.
const MsgFooterSize = 21

// Footer flags (CEPH_MSG_FOOTER_*).
const (
	FooterComplete = 1 << 0
	FooterNoCRC    = 1 << 1
	FooterSigned   = 1 << 2
)

// MsgFooter is ceph_msg_footer. msgr2 does not send it (the frame crcs and
// late status replace it), but Message users and msgr1 bridges still use it.
type MsgFooter struct {
	FrontCRC, MiddleCRC, DataCRC uint32
	Sig                          uint64
	Flags                        uint8
}

// AppendMsgFooter appends f.
func AppendMsgFooter(dst []byte, f *MsgFooter) []byte {
	dst = AppendU32(dst, f.FrontCRC)
	dst = AppendU32(dst, f.MiddleCRC)
	dst = AppendU32(dst, f.DataCRC)
	dst = AppendU64(dst, f.Sig)
	return append(dst, f.Flags)
}

// ParseMsgFooter decodes a ceph_msg_footer from the start of b.
func ParseMsgFooter(b []byte) (MsgFooter, error) {
	if len(b) < MsgFooterSize {
		return MsgFooter{}, frameErr(ErrDecode, 0, "footer is "+itoa(len(b))+" bytes, want "+itoa(MsgFooterSize))
	}
	return MsgFooter{
		FrontCRC:  binary.LittleEndian.Uint32(b[0:]),
		MiddleCRC: binary.LittleEndian.Uint32(b[4:]),
		DataCRC:   binary.LittleEndian.Uint32(b[8:]),
		Sig:       binary.LittleEndian.Uint64(b[12:]),
		Flags:     b[20],
	}, nil
}

// MessageFrame assembles a MESSAGE frame for one vectored write without
// copying the payload: the preamble and header segment (with its crc in
// msgr2.1) go into the frame's own head buffer, front, middle and data are
// referenced, and the epilogue goes into its own small buffer. A
// MessageFrame can be reused; Encode and EncodeVec do not allocate.
type MessageFrame struct {
	head     [PreambleSize + MsgHeader2Size + CRCSize]byte
	epi      [EpilogueSizeRev0]byte
	headLen  int
	epiLen   int
	rev      Revision
	preamble Preamble
	crcs     [MaxSegments]uint32
	front    []byte
	middle   []byte
	data     [][]byte
	one      [1][]byte // backs data for Encode
	dataLen  int
}

// Encode lays out a MESSAGE frame carrying h, front, middle and data for
// revision rev and computes the segment crcs over the referenced payloads.
// The payload slices must not change until the frame has been written.
func (m *MessageFrame) Encode(rev Revision, h *MsgHeader2, front, middle, data []byte) {
	m.one[0] = data
	m.EncodeVec(rev, h, front, middle, m.one[:])
}

// PayloadCRCs are the segment crcs of a message's payload (front, middle
// and data), which do not depend on its header: a sender can compute them on
// its own goroutine, before the message is sequenced, and hand them to
// EncodeCRC so that the writer only checksums the 41-byte header.
type PayloadCRCs struct {
	Front, Middle, Data uint32
}

// ComputePayloadCRCs returns the segment crcs of front, middle and data.
func ComputePayloadCRCs(front, middle, data []byte) PayloadCRCs {
	return PayloadCRCs{Front: SegmentCRC(front), Middle: SegmentCRC(middle), Data: SegmentCRC(data)}
}

// EncodeCRC is Encode with the payload crcs already computed (see
// PayloadCRCs); the result is identical.
func (m *MessageFrame) EncodeCRC(rev Revision, h *MsgHeader2, front, middle, data []byte, pc *PayloadCRCs) {
	m.one[0] = data
	m.encode(rev, h, front, middle, m.one[:], pc)
}

// EncodeVec is Encode with a data segment held in several buffers (as a
// Ceph bufferlist is); Iovecs then lists each non-empty piece. data is
// referenced, not copied, and must hold less than 4 GiB.
func (m *MessageFrame) EncodeVec(rev Revision, h *MsgHeader2, front, middle []byte, data [][]byte) {
	m.encode(rev, h, front, middle, data, nil)
}

func (m *MessageFrame) encode(rev Revision, h *MsgHeader2, front, middle []byte, data [][]byte, pc *PayloadCRCs) {
	m.rev = rev
	m.front, m.middle, m.data = front, middle, data
	dataCRC := uint32(0xffffffff)
	m.dataLen = 0
	for _, d := range data {
		m.dataLen += len(d)
		if pc == nil {
			dataCRC = SegmentCRCUpdate(dataCRC, d)
		}
	}
	if pc != nil {
		dataCRC = pc.Data
	}
	lens := [MaxSegments]uint32{MsgHeader2Size, uint32(len(front)), uint32(len(middle)), uint32(m.dataLen)}
	m.preamble = makePreamble(TagMessage, &lens, MaxSegments)
	m.preamble.put((*[PreambleSize]byte)(m.head[:PreambleSize]))
	hb := m.head[PreambleSize : PreambleSize+MsgHeader2Size]
	h.Put(hb)
	m.crcs[0] = SegmentCRC(hb)
	m.headLen = PreambleSize + MsgHeader2Size
	if rev != Rev0 {
		binary.LittleEndian.PutUint32(m.head[m.headLen:], m.crcs[0])
		m.headLen += CRCSize
	}
	n := int(m.preamble.NumSegments)
	m.crcs[1], m.crcs[2], m.crcs[3] = 0, 0, 0
	if n > 1 {
		if pc != nil {
			m.crcs[1] = pc.Front
		} else {
			m.crcs[1] = SegmentCRC(front)
		}
	}
	if n > 2 {
		if pc != nil {
			m.crcs[2] = pc.Middle
		} else {
			m.crcs[2] = SegmentCRC(middle)
		}
	}
	if n > 3 {
		m.crcs[3] = dataCRC
	}
	m.putEpilogue(false)
}

func (m *MessageFrame) putEpilogue(aborted bool) {
	m.epiLen = len(AppendEpilogue(m.epi[:0], m.rev, &m.preamble, &m.crcs, aborted))
}

// SetAborted rewrites the epilogue with the late-abort status, for a
// sender that must abandon a frame whose head is already on the wire. The
// abort only takes effect for frames that have an epilogue (always in
// msgr2.0, with more than one segment in msgr2.1).
func (m *MessageFrame) SetAborted(aborted bool) { m.putEpilogue(aborted) }

// Preamble returns the frame's preamble.
func (m *MessageFrame) Preamble() Preamble { return m.preamble }

// Head returns the preamble and header segment (and its crc in msgr2.1).
// It aliases m.
func (m *MessageFrame) Head() []byte { return m.head[:m.headLen] }

// Epilogue returns the frame's epilogue, empty when the frame has none. It
// aliases m.
func (m *MessageFrame) Epilogue() []byte { return m.epi[:m.epiLen] }

// Iovecs appends the frame's non-empty parts in wire order to dst: head,
// front, middle, the data pieces, epilogue. With Encode at most 5 entries
// are added. The head and epilogue entries alias m.
func (m *MessageFrame) Iovecs(dst [][]byte) [][]byte {
	dst = append(dst, m.head[:m.headLen])
	if len(m.front) > 0 {
		dst = append(dst, m.front)
	}
	if len(m.middle) > 0 {
		dst = append(dst, m.middle)
	}
	for _, d := range m.data {
		if len(d) > 0 {
			dst = append(dst, d)
		}
	}
	if m.epiLen > 0 {
		dst = append(dst, m.epi[:m.epiLen])
	}
	return dst
}

// Len is the frame's size on the wire.
func (m *MessageFrame) Len() int {
	return m.headLen + len(m.front) + len(m.middle) + m.dataLen + m.epiLen
}

// AppendTo appends the whole frame to dst, copying the payloads.
func (m *MessageFrame) AppendTo(dst []byte) []byte {
	dst = append(dst, m.head[:m.headLen]...)
	dst = append(dst, m.front...)
	dst = append(dst, m.middle...)
	for _, d := range m.data {
		dst = append(dst, d...)
	}
	return append(dst, m.epi[:m.epiLen]...)
}

// DecodeMessage splits a MESSAGE frame into its header and payload
// segments; the payloads alias the frame's segments.
func DecodeMessage(f *Frame) (h MsgHeader2, front, middle, data []byte, err error) {
	if f.Tag() != TagMessage {
		return h, nil, nil, nil, frameErr(ErrUnexpectedTag, f.Tag(), "want MESSAGE")
	}
	h, err = ParseMsgHeader2(f.Segments[0])
	return h, f.Segments[1], f.Segments[2], f.Segments[3], err
}
