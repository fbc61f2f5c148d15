package msgr2

import "encoding/binary"

var zeroPreamble [PreambleSize]byte

// segmentAlign is the alignment Ceph requests for segment i of a tag's frames.
func segmentAlign(tag Tag, i int) uint16 {
	if tag == TagMessage && i == 3 {
		return PageAlignment
	}
	return DefaultAlignment
}

// numSegments drops trailing empty segments; a frame always has at least one.
func numSegments(lens *[MaxSegments]uint32, n int) int {
	for ; n > 1; n-- {
		if lens[n-1] != 0 {
			break
		}
	}
	return n
}

func makePreamble(tag Tag, lens *[MaxSegments]uint32, n int) Preamble {
	p := Preamble{Tag: tag, NumSegments: uint8(numSegments(lens, n))}
	for i := 0; i < int(p.NumSegments); i++ {
		p.Segments[i] = SegmentDesc{Len: lens[i], Align: segmentAlign(tag, i)}
	}
	return p
}

// AppendEpilogue appends the trailer that follows the last segment: for
// msgr2.1 the epilogue with the crcs of segments 1..3 (only when the frame
// has more than one segment), for msgr2.0 the epilogue with all four crcs.
// crcs is indexed by segment; aborted sets the late abort.
func AppendEpilogue(dst []byte, rev Revision, p *Preamble, crcs *[MaxSegments]uint32, aborted bool) []byte {
	n := int(min(p.NumSegments, MaxSegments))
	if rev != Rev0 {
		if n <= 1 {
			return dst
		}
		late := byte(lateStatusComplete)
		if aborted {
			late = lateStatusAborted
		}
		dst = append(dst, late)
		for i := 1; i < MaxSegments; i++ {
			var c uint32
			if i < n {
				c = crcs[i]
			}
			dst = binary.LittleEndian.AppendUint32(dst, c)
		}
		return dst
	}
	var late byte
	if aborted {
		late = lateFlagAborted
	}
	dst = append(dst, late)
	for i := 0; i < MaxSegments; i++ {
		var c uint32
		if i < n {
			c = crcs[i]
		}
		dst = binary.LittleEndian.AppendUint32(dst, c)
	}
	return dst
}

// AppendFrame appends a complete frame of tag with up to four segments,
// copying them. Trailing empty segments are dropped, as Ceph does. It
// panics if given more than MaxSegments segments, a programming error. Use
// MessageFrame to send a MESSAGE without copying its payload.
func AppendFrame(dst []byte, rev Revision, tag Tag, segs ...[]byte) []byte {
	if len(segs) > MaxSegments {
		panic("msgr2: AppendFrame with more than 4 segments")
	}
	var lens [MaxSegments]uint32
	var crcs [MaxSegments]uint32
	n := len(segs)
	for i := 0; i < n; i++ {
		lens[i] = uint32(len(segs[i]))
		crcs[i] = SegmentCRC(segs[i])
	}
	if n == 0 {
		n = 1
		crcs[0] = SegmentCRC(nil)
	}
	p := makePreamble(tag, &lens, n)
	dst = AppendPreamble(dst, &p)
	for i := 0; i < int(p.NumSegments); i++ {
		if i < len(segs) { // a frame without segments still has an empty one
			dst = append(dst, segs[i]...)
		}
		if i == 0 && rev != Rev0 && lens[0] > 0 {
			dst = binary.LittleEndian.AppendUint32(dst, crcs[0])
		}
	}
	return AppendEpilogue(dst, rev, &p, &crcs, false)
}

// BeginControl reserves room for a preamble at the end of dst, so that a
// control payload can be encoded in place after it. Pass the returned
// start to FinishControl.
func BeginControl(dst []byte) (out []byte, start int) {
	return append(dst, zeroPreamble[:]...), len(dst)
}

// FinishControl completes a single-segment frame begun with BeginControl:
// everything after the reserved preamble is the payload. It fills in the
// preamble and appends the payload crc or epilogue.
func FinishControl(dst []byte, start int, rev Revision, tag Tag) []byte {
	payload := dst[start+PreambleSize:]
	lens := [MaxSegments]uint32{uint32(len(payload))}
	crcs := [MaxSegments]uint32{SegmentCRC(payload)}
	p := makePreamble(tag, &lens, 1)
	p.put((*[PreambleSize]byte)(dst[start : start+PreambleSize]))
	if rev != Rev0 && len(payload) > 0 {
		dst = binary.LittleEndian.AppendUint32(dst, crcs[0])
	}
	return AppendEpilogue(dst, rev, &p, &crcs, false)
}

// AppendControl appends a complete control frame carrying p.
func AppendControl(dst []byte, rev Revision, p Payload) []byte {
	dst, start := BeginControl(dst)
	dst = p.AppendPayload(dst)
	return FinishControl(dst, start, rev, p.Tag())
}
