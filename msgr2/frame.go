package msgr2

import "encoding/binary"

// Frame is one decoded frame. Its segments alias the input slice given to
// FrameReader.Decode; copy them to keep them past the next read.
type Frame struct {
	Preamble Preamble
	// Segments holds the logical segments; those past NumSegments are nil.
	Segments [MaxSegments][]byte
	// Aborted reports that the sender aborted the frame after sending its
	// first segment (the late abort): the frame must be dropped.
	Aborted bool
}

// Tag returns the frame's tag.
func (f *Frame) Tag() Tag { return f.Preamble.Tag }

// Payload returns segment 0, the payload of a control frame.
func (f *Frame) Payload() []byte { return f.Segments[0] }

// Epilogue is the decoded trailer of a frame: the late status or flags and
// the crc of every segment, indexed by segment (in msgr2.1 the crc of
// segment 0 travels right after it, not in the epilogue).
type Epilogue struct {
	Late uint8
	CRC  [MaxSegments]uint32
}

// FrameReader decodes frames from a byte stream. Its fields are
// configuration; it keeps no state between calls, so one value may serve a
// connection for its lifetime and the zero value reads msgr2.0 frames with
// the default segment limit.
type FrameReader struct {
	// Rev is the frame revision negotiated by the banners.
	Rev Revision
	// MaxSegmentBytes bounds each segment's length; 0 means
	// DefaultMaxSegmentBytes.
	MaxSegmentBytes uint32
	// SkipDataCRC skips checking segment crcs (Ceph's ms_crc_data=false);
	// the preamble crc is always checked.
	SkipDataCRC bool
	// Secure, once a secure-mode session has its keys, opens each frame
	// in place (see SecureRx); Decode and Peek then read secure records.
	Secure *SecureRx
}

// Peek reads the preamble of the frame at the start of b, without
// consuming it, and returns it with the frame's size on the wire. In
// secure mode it opens the frame's preamble record in place (see
// SecureRx.Peek). A b too short for the preamble gives ErrShort, bare.
func (r *FrameReader) Peek(b []byte) (Preamble, int, error) {
	if r.Secure != nil {
		return r.Secure.Peek(b, r.limit())
	}
	if len(b) < PreambleSize {
		return Preamble{}, PreambleSize, ErrShort
	}
	var p Preamble
	if err := parsePreamble(&p, b, r.limit()); err != nil {
		return p, 0, err
	}
	return p, p.FrameSize(r.Rev), nil
}

func (r *FrameReader) limit() uint32 {
	if r.MaxSegmentBytes == 0 {
		return DefaultMaxSegmentBytes
	}
	return r.MaxSegmentBytes
}

// ParsePreamble decodes the preamble at the start of b with r's limit.
func (r *FrameReader) ParsePreamble(b []byte) (Preamble, error) {
	return ParsePreambleLimit(b, r.limit())
}

// Decode decodes the first frame in b. On success it returns the frame and
// the number of bytes it occupied; b may hold more frames after it. If b
// holds only part of a frame, Decode returns ErrShort (bare, without
// allocating) and, as n, the total number of bytes the frame needs: read at
// least n-len(b) more bytes and call again with the same start. All other
// errors mean the stream is broken and wrap a sentinel error.
//
// When a segment is too large for the caller's buffer, parse the preamble
// with ParsePreamble, compute its Layout, read the segments where they
// belong and check them with VerifyFrame instead.
func (r *FrameReader) Decode(b []byte) (f Frame, n int, err error) {
	if r.Secure != nil {
		return r.Secure.Decode(b, r.limit())
	}
	if len(b) < PreambleSize {
		return f, PreambleSize, ErrShort
	}
	if err = parsePreamble(&f.Preamble, b, r.limit()); err != nil {
		return f, 0, err
	}
	l := f.Preamble.Layout(r.Rev)
	if len(b) < l.Size {
		return f, l.Size, ErrShort
	}
	p := &f.Preamble
	for i := 0; i < int(p.NumSegments); i++ {
		f.Segments[i] = b[l.Segment[i] : l.Segment[i]+int(p.Segments[i].Len) : l.Segment[i]+int(p.Segments[i].Len)]
	}
	var crc0, epi []byte
	if l.CRC0 >= 0 {
		crc0 = b[l.CRC0 : l.CRC0+CRCSize]
	}
	if l.Epilogue >= 0 {
		epi = b[l.Epilogue:l.Size]
	}
	var e Epilogue
	if err = parseEpilogue(&e, r.Rev, p, &l, crc0, epi); err != nil {
		return f, 0, err
	}
	f.Aborted, err = VerifyFrame(r.Rev, p, &f.Segments, &e, r.SkipDataCRC)
	if err != nil {
		return f, 0, err
	}
	return f, l.Size, nil
}

// ParseEpilogue decodes a frame's trailer: crc0 is the 4-byte crc after
// segment 0 in msgr2.1 (nil if segment 0 is empty or in msgr2.0) and epi
// the epilogue (nil if the layout has none).
func ParseEpilogue(rev Revision, p *Preamble, crc0, epi []byte) (Epilogue, error) {
	var e Epilogue
	l := p.Layout(rev)
	err := parseEpilogue(&e, rev, p, &l, crc0, epi)
	return e, err
}

func parseEpilogue(e *Epilogue, rev Revision, p *Preamble, l *Layout, crc0, epi []byte) error {
	if (l.CRC0 >= 0) != (len(crc0) == CRCSize) || len(epi) != l.EpilogueLen {
		return frameErr(ErrDecode, p.Tag, "trailer does not match the layout")
	}
	if rev != Rev0 {
		e.Late = lateStatusComplete
		if len(crc0) == CRCSize {
			e.CRC[0] = binary.LittleEndian.Uint32(crc0)
		} else {
			e.CRC[0] = SegmentCRC(nil)
		}
		if len(epi) > 0 {
			e.Late = epi[0]
			for i := 1; i < MaxSegments; i++ {
				e.CRC[i] = binary.LittleEndian.Uint32(epi[1+4*(i-1):])
			}
		}
		return nil
	}
	e.Late = epi[0]
	for i := 0; i < MaxSegments; i++ {
		e.CRC[i] = binary.LittleEndian.Uint32(epi[1+4*i:])
	}
	return nil
}

// VerifyFrame checks the late status and the segment crcs of a frame whose
// segments the caller holds (segs[i] must have the length the preamble
// gives). It reports whether the sender aborted the frame; the crcs of an
// aborted frame's later segments are not checked, since the sender
// abandoned them.
func VerifyFrame(rev Revision, p *Preamble, segs *[MaxSegments][]byte, e *Epilogue, skipCRC bool) (aborted bool, err error) {
	n := int(min(p.NumSegments, MaxSegments))
	for i := 0; i < n; i++ {
		if len(segs[i]) != int(p.Segments[i].Len) {
			return false, frameErr(ErrDecode, p.Tag, "segment "+itoa(i)+" length differs from preamble")
		}
	}
	first := 0
	if rev != Rev0 {
		// Segment 0 has its own crc, checked before the late status, as it
		// is valid even in an aborted frame.
		if !skipCRC {
			if got := SegmentCRC(segs[0]); got != e.CRC[0] {
				return false, frameErr(ErrBadCRC, p.Tag, "segment 0 crc "+hex64(uint64(got))+" != "+hex64(uint64(e.CRC[0])))
			}
		}
		first = 1
		if n > 1 {
			switch e.Late & lateStatusAbortedMask {
			case lateStatusComplete:
			case lateStatusAborted:
				return true, nil
			default:
				return false, frameErr(ErrBadEpilogue, p.Tag, "late status 0x"+hex64(uint64(e.Late)))
			}
		}
	} else if e.Late&lateFlagAborted != 0 {
		return true, nil
	}
	if skipCRC {
		return false, nil
	}
	for i := first; i < n; i++ {
		if got := SegmentCRC(segs[i]); got != e.CRC[i] {
			return false, frameErr(ErrBadCRC, p.Tag, "segment "+itoa(i)+" crc "+hex64(uint64(got))+" != "+hex64(uint64(e.CRC[i])))
		}
	}
	return false, nil
}

// VerifySegment0 checks segment 0 of a msgr2.1 frame against the crc that
// follows it (crc0, 4 bytes; nil when segment 0 is empty), so that the
// header of a MESSAGE can be trusted (to pick the buffers for its data by
// tid, say) before the remaining segments are read. In msgr2.0 segment 0's
// crc travels in the epilogue: it returns nil and VerifyFrame checks it.
func VerifySegment0(rev Revision, p *Preamble, seg0, crc0 []byte) error {
	if rev == Rev0 {
		return nil
	}
	if len(seg0) != int(p.Segments[0].Len) || (len(seg0) > 0) != (len(crc0) == CRCSize) {
		return frameErr(ErrDecode, p.Tag, "segment 0 or its crc does not match the preamble")
	}
	if len(seg0) == 0 {
		return nil
	}
	if got, want := SegmentCRC(seg0), binary.LittleEndian.Uint32(crc0); got != want {
		return frameErr(ErrBadCRC, p.Tag, "segment 0 crc "+hex64(uint64(got))+" != "+hex64(uint64(want)))
	}
	return nil
}
