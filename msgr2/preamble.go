package msgr2

import (
	"encoding/binary"
	"math"
)

// Tag identifies a frame's type; it is the first byte of the preamble.
type Tag uint8

// Frame tags, numbered as in Ceph's frames_v2.h.
const (
	TagHello                Tag = 1
	TagAuthRequest          Tag = 2
	TagAuthBadMethod        Tag = 3
	TagAuthReplyMore        Tag = 4
	TagAuthRequestMore      Tag = 5
	TagAuthDone             Tag = 6
	TagAuthSignature        Tag = 7
	TagClientIdent          Tag = 8
	TagServerIdent          Tag = 9
	TagIdentMissingFeatures Tag = 10
	TagSessionReconnect     Tag = 11
	TagSessionReset         Tag = 12
	TagSessionRetry         Tag = 13
	TagSessionRetryGlobal   Tag = 14
	TagSessionReconnectOK   Tag = 15
	TagWait                 Tag = 16
	TagMessage              Tag = 17
	TagKeepalive2           Tag = 18
	TagKeepalive2Ack        Tag = 19
	TagAck                  Tag = 20
)

var tagNames = [...]string{
	TagHello:                "HELLO",
	TagAuthRequest:          "AUTH_REQUEST",
	TagAuthBadMethod:        "AUTH_BAD_METHOD",
	TagAuthReplyMore:        "AUTH_REPLY_MORE",
	TagAuthRequestMore:      "AUTH_REQUEST_MORE",
	TagAuthDone:             "AUTH_DONE",
	TagAuthSignature:        "AUTH_SIGNATURE",
	TagClientIdent:          "CLIENT_IDENT",
	TagServerIdent:          "SERVER_IDENT",
	TagIdentMissingFeatures: "IDENT_MISSING_FEATURES",
	TagSessionReconnect:     "SESSION_RECONNECT",
	TagSessionReset:         "SESSION_RESET",
	TagSessionRetry:         "SESSION_RETRY",
	TagSessionRetryGlobal:   "SESSION_RETRY_GLOBAL",
	TagSessionReconnectOK:   "SESSION_RECONNECT_OK",
	TagWait:                 "WAIT",
	TagMessage:              "MESSAGE",
	TagKeepalive2:           "KEEPALIVE2",
	TagKeepalive2Ack:        "KEEPALIVE2_ACK",
	TagAck:                  "ACK",
}

// Known reports whether t is a tag this package decodes.
func (t Tag) Known() bool { return t >= TagHello && t <= TagAck }

// String returns Ceph's name for the tag.
func (t Tag) String() string {
	if t.Known() {
		return tagNames[t]
	}
	return "TAG(" + itoa(int(t)) + ")"
}

// Revision is the frame format revision: Rev0 is msgr2.0, Rev1 msgr2.1.
// Encoders and decoders treat any value other than Rev0 as Rev1.
type Revision uint8

// Frame format revisions.
const (
	Rev0 Revision = 0
	Rev1 Revision = 1
)

// String implements fmt.Stringer.
func (r Revision) String() string {
	switch r {
	case Rev0:
		return "msgr2.0"
	case Rev1:
		return "msgr2.1"
	}
	return "msgr2.1(" + itoa(int(r)) + ")"
}

// Sizes and limits of the frame format.
const (
	// PreambleSize is the size of a preamble block.
	PreambleSize = 32
	// MaxSegments is the largest number of segments in a frame.
	MaxSegments = 4
	// CRCSize is the size of a crc on the wire.
	CRCSize = 4
	// EpilogueSizeRev0 is the size of a msgr2.0 crc-mode epilogue: late
	// flags and four segment crcs.
	EpilogueSizeRev0 = 1 + 4*CRCSize
	// EpilogueSizeRev1 is the size of a msgr2.1 crc-mode epilogue: late
	// status and the crcs of segments 1 to 3.
	EpilogueSizeRev1 = 1 + 3*CRCSize
	// DefaultAlignment is the alignment requested for control payloads and
	// for the header, front and middle segments of a MESSAGE.
	DefaultAlignment = 8
	// PageAlignment is the alignment requested for a MESSAGE data segment.
	PageAlignment = 4096
	// DefaultMaxSegmentBytes is the default limit on one segment's length:
	// 64 MiB, libceph's CEPH_MSG_MAX_DATA_LEN, the largest segment a
	// kernel client accepts.
	DefaultMaxSegmentBytes = 64 << 20
)

// Preamble flags.
const (
	// FlagCompressed marks a frame whose segments are compressed. It is only
	// valid once compression has been negotiated, which this package never does.
	FlagCompressed uint8 = 1 << 0
)

// Late status and flags carried by the epilogue.
const (
	lateFlagAborted       = 1 << 0 // msgr2.0 late_flags
	lateStatusAborted     = 0x1    // msgr2.1 late_status code words
	lateStatusComplete    = 0xe
	lateStatusAbortedMask = 0xf
)

// SegmentDesc is a segment's entry in the preamble.
type SegmentDesc struct {
	Len   uint32 // logical length in bytes
	Align uint16 // alignment the sender asks the receiver to place it at
}

// Preamble is the fixed 32-byte block that starts every frame: tag, segment
// count, four (le32 length, le16 alignment) descriptors, flags, a reserved
// byte and the le32 crc32c of the first 28 bytes.
type Preamble struct {
	Tag         Tag
	NumSegments uint8
	Segments    [MaxSegments]SegmentDesc
	Flags       uint8
	Reserved    uint8
}

// ParsePreamble decodes and checks the preamble at the start of b with the
// default segment limit. See ParsePreambleLimit.
func ParsePreamble(b []byte) (Preamble, error) {
	return ParsePreambleLimit(b, DefaultMaxSegmentBytes)
}

// ParsePreambleLimit decodes and checks the preamble at the start of b: its
// crc, a segment count of 1 to 4, a non-empty last segment, no segment over
// maxSegment bytes, a known tag and no unsupported flag. Descriptors past
// the segment count are ignored and zeroed, as Ceph ignores them. It
// returns ErrShort if b holds fewer than PreambleSize bytes.
func ParsePreambleLimit(b []byte, maxSegment uint32) (Preamble, error) {
	var p Preamble
	err := parsePreamble(&p, b, maxSegment)
	return p, err
}

// parsePreamble is ParsePreambleLimit into *p, which the frame reader
// uses to avoid copying the preamble around.
func parsePreamble(p *Preamble, b []byte, maxSegment uint32) error {
	*p = Preamble{}
	if len(b) < PreambleSize {
		return ErrShort
	}
	b = b[:PreambleSize]
	want := binary.LittleEndian.Uint32(b[28:])
	if got := PreambleCRC(b[:28]); got != want {
		return frameErr(ErrBadCRC, 0, "preamble crc "+hex64(uint64(got))+" != "+hex64(uint64(want)))
	}
	p.Tag = Tag(b[0])
	p.NumSegments = b[1]
	p.Flags = b[26]
	p.Reserved = b[27]
	if p.NumSegments < 1 || p.NumSegments > MaxSegments {
		return frameErr(ErrTooManySegments, p.Tag, itoa(int(p.NumSegments))+" segments")
	}
	for i := 0; i < int(p.NumSegments); i++ {
		off := 2 + 6*i
		p.Segments[i].Len = binary.LittleEndian.Uint32(b[off:])
		p.Segments[i].Align = binary.LittleEndian.Uint16(b[off+4:])
		// The second bound only matters where int is 32 bits: it keeps
		// every frame size computed by Layout within an int.
		if p.Segments[i].Len > maxSegment || uint64(p.Segments[i].Len) > math.MaxInt/8 {
			return frameErr(ErrSegmentTooLarge, p.Tag, "segment "+itoa(i)+" is "+utoa(uint64(p.Segments[i].Len))+" bytes, limit "+utoa(uint64(maxSegment)))
		}
	}
	if p.NumSegments > 1 && p.Segments[p.NumSegments-1].Len == 0 {
		return frameErr(ErrBadPreamble, p.Tag, "last segment empty")
	}
	if !p.Tag.Known() {
		return frameErr(ErrUnknownTag, p.Tag, "")
	}
	if p.Flags&FlagCompressed != 0 {
		return frameErr(ErrBadPreamble, p.Tag, "compressed frame, compression not negotiated")
	}
	return nil
}

// AppendPreamble appends p with its crc. Descriptors past NumSegments are
// written as zero.
func AppendPreamble(dst []byte, p *Preamble) []byte {
	// Encode in place: a local array would escape through the crc's
	// indirect call and cost an allocation.
	n := len(dst)
	dst = append(dst, zeroPreamble[:]...)
	p.put((*[PreambleSize]byte)(dst[n:]))
	return dst
}

func (p *Preamble) put(b *[PreambleSize]byte) {
	b[0] = byte(p.Tag)
	b[1] = p.NumSegments
	for i := 0; i < MaxSegments; i++ {
		off := 2 + 6*i
		var s SegmentDesc
		if i < int(p.NumSegments) {
			s = p.Segments[i]
		}
		binary.LittleEndian.PutUint32(b[off:], s.Len)
		binary.LittleEndian.PutUint16(b[off+4:], s.Align)
	}
	b[26] = p.Flags
	b[27] = p.Reserved
	binary.LittleEndian.PutUint32(b[28:], PreambleCRC(b[:28]))
}

// Layout says where each part of a frame lies, in bytes from the first
// byte of its preamble.
type Layout struct {
	// Segment[i] is the offset of segment i; its length is in the preamble.
	Segment [MaxSegments]int
	// CRC0 is the offset of segment 0's crc in msgr2.1, or -1 when there is
	// none (msgr2.0, or an empty segment 0).
	CRC0 int
	// Epilogue is the offset of the epilogue, or -1 when there is none
	// (msgr2.1 with a single segment).
	Epilogue int
	// EpilogueLen is the epilogue's size (0 when there is none).
	EpilogueLen int
	// Size is the frame's total size on the wire.
	Size int
}

// Layout computes where the parts of the frame p describes lie on the wire
// for revision rev. Segment lengths are at most 4 GiB each, so the sizes
// fit an int on 64-bit platforms.
func (p *Preamble) Layout(rev Revision) Layout {
	var l Layout
	off := PreambleSize
	n := int(min(p.NumSegments, MaxSegments))
	l.CRC0, l.Epilogue = -1, -1
	for i := 0; i < n; i++ {
		l.Segment[i] = off
		off += int(p.Segments[i].Len)
		if i == 0 && rev != Rev0 && p.Segments[0].Len > 0 {
			l.CRC0 = off
			off += CRCSize
		}
	}
	for i := n; i < MaxSegments; i++ {
		l.Segment[i] = off
	}
	switch {
	case rev == Rev0:
		l.Epilogue, l.EpilogueLen = off, EpilogueSizeRev0
	case n > 1:
		l.Epilogue, l.EpilogueLen = off, EpilogueSizeRev1
	}
	l.Size = off + l.EpilogueLen
	return l
}

// FrameSize is the size on the wire of the frame p describes.
func (p *Preamble) FrameSize(rev Revision) int { return p.Layout(rev).Size }
