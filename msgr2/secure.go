package msgr2

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Secure mode (msgr2.1, CEPH_CON_MODE_SECURE) seals every frame after
// AUTH_DONE with AES-128-GCM, without additional data, in records of their
// own, each with its own nonce and 16-byte tag:
//
//  1. the preamble record: the 32-byte preamble and the first 48 bytes of
//     segment 0 (zero-filled when shorter): 80 bytes, 96 on the wire;
//  2. only when segment 0 is longer than 48 bytes: the rest of it, padded
//     to 16 bytes;
//  3. only when the frame has more than one segment: segments 1 to 3, each
//     padded to 16 bytes, then a 16-byte epilogue (the late status and 15
//     zero bytes).
//
// The preamble keeps the logical segment lengths and its crc; segments
// carry no crcs (the tags protect them). The key is the connection
// secret's first 16 bytes; the next 12 and the 12 after are the nonces,
// the client receiving with the first and sending with the second, the
// server the other way round. A nonce is a le32 that stays and a le64
// counter that moves on by one for each record (msgr2.1; msgr2.0 moved the
// le32, CVE-2020-1759, and is not supported here). A stream therefore
// breaks on any tampered, truncated, dropped, replayed or reordered
// record: its tag does not verify under the nonce the receiver expects.
//
// Records are sealed and opened in place: the sender lays a frame out in
// its send buffer and seals it there; the receiver opens records in the
// buffer it read them into, and a frame's segments alias that buffer.

// Secure-mode sizes.
const (
	// SecureKeyBytes is the AES-128 key's size.
	SecureKeyBytes = 16
	// SecureNonceBytes is the size of a GCM nonce.
	SecureNonceBytes = 12
	// SecureSecretBytes is the part of the connection secret secure mode
	// uses: the key and the two nonces.
	SecureSecretBytes = SecureKeyBytes + 2*SecureNonceBytes
	// SecureTagBytes is the GCM tag after each record.
	SecureTagBytes = 16
	// SecureInlineBytes is how much of segment 0 rides in the preamble
	// record.
	SecureInlineBytes = 48
	// SecurePreambleBytes is the preamble record on the wire.
	SecurePreambleBytes = PreambleSize + SecureInlineBytes + SecureTagBytes
	// SecureEpilogueBytes is the secure epilogue: late status, 15 zeros.
	SecureEpilogueBytes = 16
	secureBlock         = 16
)

// ErrSecure means a record failed to open: tampered, truncated, replayed,
// reordered, or sealed with other keys. The stream cannot go on.
var ErrSecure = errors.New("msgr2: secure record does not authenticate")

// ErrNonceExhausted means a sender used every nonce of its stream: it must
// not seal another record with these keys.
var ErrNonceExhausted = errors.New("msgr2: secure nonces exhausted")

// secureStream is one direction's cipher and nonce.
type secureStream struct {
	aead  cipher.AEAD
	nonce [SecureNonceBytes]byte
	used  uint64 // records sealed or opened so far
}

// next returns the nonce for the next record and moves the counter on.
func (s *secureStream) next() ([]byte, error) {
	if s.used == ^uint64(0) {
		return nil, ErrNonceExhausted
	}
	s.used++
	// The nonce is used as it stands, then its counter moves on (the
	// first record uses the secret's nonce itself).
	return s.nonce[:], nil
}

func (s *secureStream) advance() {
	c := binary.LittleEndian.Uint64(s.nonce[4:])
	binary.LittleEndian.PutUint64(s.nonce[4:], c+1)
}

// SecureTx seals the frames one side sends. It is not safe for concurrent
// use: frames must be sealed in the order they are written.
type SecureTx struct{ s secureStream }

// SecureRx opens the frames one side receives, in order. It is not safe
// for concurrent use.
type SecureRx struct {
	s      secureStream
	opened bool     // the first record of the frame at the front is open
	p      Preamble // its preamble, when opened
}

// NewSecure returns the two directions of a secure-mode session whose
// connection secret is secret (Ceph's is 64 bytes; the first 40 are used).
// client says which side we are, which picks the nonces.
func NewSecure(secret []byte, client bool) (*SecureTx, *SecureRx, error) {
	if len(secret) < SecureSecretBytes {
		return nil, nil, fmt.Errorf("msgr2: secure mode: a %d-byte connection secret, want %d or more", len(secret), SecureSecretBytes)
	}
	block, err := aes.NewCipher(secret[:SecureKeyBytes])
	if err != nil {
		return nil, nil, fmt.Errorf("msgr2: secure mode: %w", err)
	}
	newGCM := func() (cipher.AEAD, error) { return cipher.NewGCM(block) }
	txa, err := newGCM()
	if err != nil {
		return nil, nil, fmt.Errorf("msgr2: secure mode: %w", err)
	}
	rxa, err := newGCM()
	if err != nil {
		return nil, nil, fmt.Errorf("msgr2: secure mode: %w", err)
	}
	tx, rx := &SecureTx{s: secureStream{aead: txa}}, &SecureRx{s: secureStream{aead: rxa}}
	first, second := secret[SecureKeyBytes:SecureKeyBytes+SecureNonceBytes], secret[SecureKeyBytes+SecureNonceBytes:SecureSecretBytes]
	if client {
		copy(rx.s.nonce[:], first)
		copy(tx.s.nonce[:], second)
	} else {
		copy(tx.s.nonce[:], first)
		copy(rx.s.nonce[:], second)
	}
	return tx, rx, nil
}

func pad16(n int) int { return (n + secureBlock - 1) &^ (secureBlock - 1) }

// SecureFrameSize returns the size on the wire of the frame p describes,
// in secure mode.
func SecureFrameSize(p *Preamble) int {
	size := SecurePreambleBytes
	if l0 := int(p.Segments[0].Len); l0 > SecureInlineBytes {
		size += pad16(l0-SecureInlineBytes) + SecureTagBytes
	}
	if n := int(min(p.NumSegments, MaxSegments)); n > 1 {
		for i := 1; i < n; i++ {
			size += pad16(int(p.Segments[i].Len))
		}
		size += SecureEpilogueBytes + SecureTagBytes
	}
	return size
}

// seal seals the record whose plaintext is b[off:off+n] in place; the tag
// goes to b[off+n:off+n+SecureTagBytes], which the caller reserved.
func (t *SecureTx) seal(b []byte, off, n int) error {
	nonce, err := t.s.next()
	if err != nil {
		return err
	}
	t.s.aead.Seal(b[off:off], nonce, b[off:off+n], nil)
	t.s.advance()
	return nil
}

// grow extends dst by n zero bytes.
func grow(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(zeroPad))
		dst = append(dst, zeroPad[:k]...)
		n -= k
	}
	return dst
}

var zeroPad [256]byte

// AppendFrame appends a sealed frame of tag with up to four segments,
// copying them (the secure form of the package's AppendFrame).
func (t *SecureTx) AppendFrame(dst []byte, tag Tag, segs ...[]byte) ([]byte, error) {
	if len(segs) > MaxSegments {
		panic("msgr2: AppendFrame with more than 4 segments")
	}
	var lens [MaxSegments]uint32
	n := max(len(segs), 1)
	for i, s := range segs {
		lens[i] = uint32(len(s))
	}
	p := makePreamble(tag, &lens, n)
	start := len(dst)
	dst = append(dst, zeroPreamble[:]...)
	if len(segs) > 0 {
		dst = append(dst, segs[0]...)
	}
	var rest [MaxSegments - 1][]byte
	for i := 1; i < int(p.NumSegments); i++ {
		rest[i-1] = segs[i]
	}
	return t.finish(dst, start, &p, rest[:max(int(p.NumSegments)-1, 0)])
}

// AppendControl appends a sealed control frame carrying pl, encoding the
// payload in place.
func (t *SecureTx) AppendControl(dst []byte, pl Payload) ([]byte, error) {
	start := len(dst)
	dst = append(dst, zeroPreamble[:]...)
	dst = pl.AppendPayload(dst)
	lens := [MaxSegments]uint32{uint32(len(dst) - start - PreambleSize)}
	p := makePreamble(pl.Tag(), &lens, 1)
	return t.finish(dst, start, &p, nil)
}

// AppendMessage appends a sealed MESSAGE frame carrying h, front, middle
// and data; the payload is copied into dst and sealed there.
func (t *SecureTx) AppendMessage(dst []byte, h *MsgHeader2, front, middle, data []byte) ([]byte, error) {
	lens := [MaxSegments]uint32{MsgHeader2Size, uint32(len(front)), uint32(len(middle)), uint32(len(data))}
	p := makePreamble(TagMessage, &lens, MaxSegments)
	start := len(dst)
	dst = append(dst, zeroPreamble[:]...)
	dst = AppendMsgHeader2(dst, h)
	rest := [MaxSegments - 1][]byte{front, middle, data}
	return t.finish(dst, start, &p, rest[:int(p.NumSegments)-1])
}

// finish lays out and seals a frame whose preamble slot and segment 0 are
// at dst[start:]; rest are segments 1.. (copied after).
func (t *SecureTx) finish(dst []byte, start int, p *Preamble, rest [][]byte) ([]byte, error) {
	p.put((*[PreambleSize]byte)(dst[start : start+PreambleSize]))
	l0 := int(p.Segments[0].Len)
	seg0 := start + PreambleSize
	if l0 <= SecureInlineBytes {
		// One record: zero-fill the inline part, room for the tag.
		dst = grow(dst, SecureInlineBytes-l0+SecureTagBytes)
	} else {
		// Two records: open a tag-sized gap after the inline part, pad the
		// rest, room for its tag.
		restLen := l0 - SecureInlineBytes
		dst = grow(dst, SecureTagBytes+pad16(restLen)-restLen+SecureTagBytes)
		r2 := seg0 + SecureInlineBytes + SecureTagBytes
		copy(dst[r2:r2+restLen], dst[seg0+SecureInlineBytes:seg0+l0])
		clear(dst[r2+restLen : r2+pad16(restLen)])
	}
	if err := t.seal(dst, start, PreambleSize+SecureInlineBytes); err != nil {
		return dst[:start], err
	}
	if l0 > SecureInlineBytes {
		r2 := start + SecurePreambleBytes
		if err := t.seal(dst, r2, pad16(l0-SecureInlineBytes)); err != nil {
			return dst[:start], err
		}
	}
	if len(rest) == 0 {
		return dst, nil
	}
	r3 := len(dst)
	for _, s := range rest {
		dst = append(dst, s...)
		dst = grow(dst, pad16(len(s))-len(s))
	}
	dst = append(dst, lateStatusComplete)
	dst = grow(dst, SecureEpilogueBytes-1+SecureTagBytes)
	if err := t.seal(dst, r3, len(dst)-r3-SecureTagBytes); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// open opens the record b[off:off+n+tag] in place.
func (r *SecureRx) open(b []byte, off, n int) error {
	nonce, err := r.s.next()
	if err != nil {
		return err
	}
	if _, err := r.s.aead.Open(b[off:off], nonce, b[off:off+n+SecureTagBytes], nil); err != nil {
		return ErrSecure
	}
	r.s.advance()
	return nil
}

// Peek opens the preamble record of the frame at the start of b in place,
// once (a second Peek, or the Decode that follows, finds it open), and
// returns the preamble and the frame's size on the wire. With fewer than
// SecurePreambleBytes it returns ErrShort, bare.
func (r *SecureRx) Peek(b []byte, maxSegment uint32) (Preamble, int, error) {
	if !r.opened {
		if len(b) < SecurePreambleBytes {
			return Preamble{}, SecurePreambleBytes, ErrShort
		}
		if err := r.open(b, 0, PreambleSize+SecureInlineBytes); err != nil {
			return Preamble{}, 0, frameErr(ErrSecure, 0, "preamble record")
		}
		if err := parsePreamble(&r.p, b, maxSegment); err != nil {
			return Preamble{}, 0, err
		}
		r.opened = true
	}
	return r.p, SecureFrameSize(&r.p), nil
}

// Decode opens the frame at the start of b in place and returns it; its
// segments alias b. It has FrameReader.Decode's contract: ErrShort (bare)
// with the size the frame needs when b holds only part of it, any other
// error a broken stream.
func (r *SecureRx) Decode(b []byte, maxSegment uint32) (f Frame, n int, err error) {
	p, size, err := r.Peek(b, maxSegment)
	if err != nil {
		return f, size, err
	}
	if len(b) < size {
		return f, size, ErrShort
	}
	r.opened = false
	f.Preamble = p
	l0 := int(p.Segments[0].Len)
	off := SecurePreambleBytes
	if l0 <= SecureInlineBytes {
		f.Segments[0] = b[PreambleSize : PreambleSize+l0 : PreambleSize+l0]
	} else {
		restPad := pad16(l0 - SecureInlineBytes)
		if err := r.open(b, off, restPad); err != nil {
			return f, 0, frameErr(ErrSecure, p.Tag, "segment 0 record")
		}
		// Close the gap the first tag left: move the inline part next to
		// the rest, so that segment 0 is contiguous.
		copy(b[PreambleSize+SecureTagBytes:SecurePreambleBytes], b[PreambleSize:PreambleSize+SecureInlineBytes])
		s0 := PreambleSize + SecureTagBytes
		f.Segments[0] = b[s0 : s0+l0 : s0+l0]
		off += restPad + SecureTagBytes
	}
	nseg := int(min(p.NumSegments, MaxSegments))
	if nseg > 1 {
		plain := size - off - SecureTagBytes
		if err := r.open(b, off, plain); err != nil {
			return f, 0, frameErr(ErrSecure, p.Tag, "payload record")
		}
		pos := off
		for i := 1; i < nseg; i++ {
			li := int(p.Segments[i].Len)
			f.Segments[i] = b[pos : pos+li : pos+li]
			pos += pad16(li)
		}
		switch late := b[pos]; late & lateStatusAbortedMask {
		case lateStatusComplete:
		case lateStatusAborted:
			f.Aborted = true
		default:
			return f, 0, frameErr(ErrBadEpilogue, p.Tag, "late status 0x"+hex64(uint64(late)))
		}
	}
	return f, size, nil
}
