package msgr2

import (
	"encoding/binary"
	"errors"
	"testing"
)

func sampleMessageFrame(rev Revision) []byte {
	h := MsgHeader2{Seq: 1, Type: MsgMonCommand}
	var mf MessageFrame
	mf.Encode(rev, &h, []byte("front"), []byte("mid"), []byte("data"))
	return mf.AppendTo(nil)
}

// rewritePreamble edits a preamble and fixes its crc.
func rewritePreamble(b []byte, edit func(p []byte)) []byte {
	b = append([]byte(nil), b...)
	edit(b[:PreambleSize])
	binary.LittleEndian.PutUint32(b[28:], PreambleCRC(b[:28]))
	return b
}

func TestDecodeShort(t *testing.T) {
	for _, rev := range []Revision{Rev0, Rev1} {
		full := sampleMessageFrame(rev)
		r := FrameReader{Rev: rev}
		for i := 0; i < len(full); i++ {
			_, n, err := r.Decode(full[:i])
			if err != ErrShort {
				t.Fatalf("%v: %d bytes: err %v, want bare ErrShort", rev, i, err)
			}
			want := len(full)
			if i < PreambleSize {
				want = PreambleSize
			}
			if n != want {
				t.Fatalf("%v: %d bytes: need %d, want %d", rev, i, n, want)
			}
		}
	}
	if _, err := ParsePreamble(make([]byte, 31)); err != ErrShort {
		t.Errorf("ParsePreamble short: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := sampleMessageFrame(Rev1)
	l := func() Layout { p, _ := ParsePreamble(good); return p.Layout(Rev1) }()
	flipBits := func(off int, mask byte) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= mask
		return b
	}
	flip := func(off int) []byte { return flipBits(off, 0x10) }
	for _, tc := range []struct {
		name string
		in   []byte
		r    FrameReader
		want error
	}{
		{"preamble crc", flip(3), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"segment 0 crc", flip(l.Segment[0] + 5), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"segment 0 crc field", flip(l.CRC0), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"front crc", flip(l.Segment[1]), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"data crc", flip(l.Segment[3] + 1), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"epilogue crc", flip(l.Epilogue + 2), FrameReader{Rev: Rev1}, ErrBadCRC},
		{"bad late status", flipBits(l.Epilogue, 0x03), FrameReader{Rev: Rev1}, ErrBadEpilogue},
		{"wrong revision", good, FrameReader{Rev: Rev0}, ErrBadCRC},
		{"segment limit", good, FrameReader{Rev: Rev1, MaxSegmentBytes: 4}, ErrSegmentTooLarge},
		{"zero segments", rewritePreamble(good, func(p []byte) { p[1] = 0 }), FrameReader{Rev: Rev1}, ErrTooManySegments},
		{"five segments", rewritePreamble(good, func(p []byte) { p[1] = 5 }), FrameReader{Rev: Rev1}, ErrTooManySegments},
		{"unknown tag", rewritePreamble(good, func(p []byte) { p[0] = 21 }), FrameReader{Rev: Rev1}, ErrUnknownTag},
		{"tag zero", rewritePreamble(good, func(p []byte) { p[0] = 0 }), FrameReader{Rev: Rev1}, ErrUnknownTag},
		{"last segment empty", rewritePreamble(good, func(p []byte) { p[2+6*3] = 0; p[3+6*3] = 0 }), FrameReader{Rev: Rev1}, ErrBadPreamble},
		{"compressed", rewritePreamble(good, func(p []byte) { p[26] = FlagCompressed }), FrameReader{Rev: Rev1}, ErrBadPreamble},
		{"huge segment", rewritePreamble(good, func(p []byte) { binary.LittleEndian.PutUint32(p[2:], 0xffffffff) }), FrameReader{Rev: Rev1}, ErrSegmentTooLarge},
	} {
		_, _, err := tc.r.Decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			continue
		}
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FrameError", tc.name, err)
		}
	}
}

func TestLateAbort(t *testing.T) {
	for _, rev := range []Revision{Rev0, Rev1} {
		h := MsgHeader2{Seq: 1}
		var mf MessageFrame
		mf.Encode(rev, &h, []byte("front"), nil, []byte("data"))
		mf.SetAborted(true)
		wire := mf.AppendTo(nil)
		// The sender zeroes what it did not send.
		l := func() Layout { p := mf.Preamble(); return p.Layout(rev) }()
		for i := l.Segment[1]; i < l.Epilogue; i++ {
			wire[i] = 0
		}
		r := FrameReader{Rev: rev}
		f, n, err := r.Decode(wire)
		if err != nil || n != len(wire) || !f.Aborted {
			t.Errorf("%v: aborted=%v n=%d err=%v", rev, f.Aborted, n, err)
		}
	}
}

func TestBannerErrors(t *testing.T) {
	good := AppendBanner(nil, LocalBanner)
	for i := 0; i < len(good); i++ {
		_, n, err := ParseBanner(good[:i])
		if err != ErrShort || n <= i {
			t.Fatalf("%d bytes: n=%d err=%v", i, n, err)
		}
	}
	long := AppendBanner(nil, LocalBanner)
	binary.LittleEndian.PutUint16(long[8:], 20)
	long = append(long, 1, 2, 3, 4)
	if b, n, err := ParseBanner(long); err != nil || n != len(long) || b != LocalBanner {
		t.Errorf("longer payload: %v %d %v", b, n, err)
	}
	small := AppendBanner(nil, LocalBanner)
	binary.LittleEndian.PutUint16(small[8:], 8)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"v1", []byte("ceph v027\x00\x00\x00"), ErrV1Banner},
		{"v1 partial", []byte("ceph v0"), ErrV1Banner},
		{"garbage", []byte("GET / HTTP/1.1\r\n"), ErrBadBanner},
		{"garbage early", []byte("x"), ErrBadBanner},
		{"small payload", small, ErrBadBanner},
	} {
		if _, _, err := ParseBanner(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Negotiate(LocalBanner, Banner{Supported: 3, Required: FeatureCompression}); !errors.Is(err, ErrFeatures) {
		t.Errorf("peer requiring compression: %v", err)
	}
	if _, err := Negotiate(Banner{Supported: 1, Required: FeatureRevision1}, Banner{}); !errors.Is(err, ErrFeatures) {
		t.Errorf("peer lacking rev1: %v", err)
	}
	if a, err := Negotiate(LocalBanner, Banner{}); err != nil || RevisionFor(a) != Rev0 {
		t.Errorf("msgr2.0 peer: %v %v", a, err)
	}
}

func TestPayloadErrors(t *testing.T) {
	// Every strict prefix of every sample payload fails with ErrDecode
	// (except payloads whose prefix is itself valid, such as empty ones).
	for _, p := range samplePayloads() {
		full := p.AppendPayload(nil)
		for i := 0; i < len(full); i++ {
			q := NewPayload(p.Tag())
			err := q.DecodePayload(full[:i])
			if err == nil {
				t.Errorf("%v: %d of %d bytes decoded without error", p.Tag(), i, len(full))
				continue
			}
			var fe *FrameError
			if !errors.Is(err, ErrDecode) || !errors.As(err, &fe) || fe.Tag != p.Tag() {
				t.Errorf("%v: %d bytes: %v", p.Tag(), i, err)
			}
		}
	}
	// A struct whose compat version is newer than we support.
	addr := AppendEntityAddr(nil, addr4)
	addr[2] = 2 // compat_v
	h := append([]byte{byte(EntityMon)}, addr...)
	if err := new(Hello).DecodePayload(h); !errors.Is(err, ErrDecode) {
		t.Errorf("compat too new: %v", err)
	}
	// A newer struct_v with compat 1 is fine, and extra bytes are skipped.
	addr = AppendEntityAddr(nil, addr4)
	addr[1] = 9
	binary.LittleEndian.PutUint32(addr[3:], binary.LittleEndian.Uint32(addr[3:])+2)
	addr = append(addr, 0xaa, 0xbb)
	h = append([]byte{byte(EntityMon)}, addr...)
	var hello Hello
	if err := hello.DecodePayload(h); err != nil || hello.PeerAddr != addr4 {
		t.Errorf("newer struct_v: %v %v", hello.PeerAddr, err)
	}
	// A vector count past the end must not allocate a huge slice.
	bad := AppendU32(AppendU32(nil, 1), 0xfffffff0)
	if err := new(AuthRequest).DecodePayload(bad); !errors.Is(err, ErrDecode) {
		t.Errorf("huge count: %v", err)
	}
	// Unknown tags and MESSAGE have no control payload.
	for _, tag := range []Tag{0, TagMessage, 21, 255} {
		if _, err := DecodePayload(tag, nil); !errors.Is(err, ErrUnknownTag) {
			t.Errorf("tag %v: %v", tag, err)
		}
	}
	// Message header too short, unknown message type, compat too new.
	if _, err := ParseMsgHeader2(make([]byte, 40)); !errors.Is(err, ErrDecode) {
		t.Errorf("short header: %v", err)
	}
	if _, err := DefaultRegistry.Decode(&MsgHeader2{Type: 9999}, nil, nil, nil); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := DefaultRegistry.Decode(&MsgHeader2{Type: MsgPing, CompatVersion: 2}, nil, nil, nil); !errors.Is(err, ErrDecode) {
		t.Errorf("compat too new: %v", err)
	}
	var f Frame
	f.Preamble.Tag = TagAck
	if err := DecodeFramePayload(&f, new(Hello)); !errors.Is(err, ErrUnexpectedTag) {
		t.Errorf("unexpected tag: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := r.Register(MsgPing, "ping", func() Message { return new(Ping) }); !errors.Is(err, ErrDuplicateType) {
		t.Errorf("duplicate: %v", err)
	}
	if err := r.Register(0x7001, "my_ping", func() Message { return new(Ping) }); err != nil {
		t.Fatal(err)
	}
	if r.Name(0x7001) != "my_ping" {
		t.Error("name")
	}
	if m, err := r.New(0x7001); err != nil || m == nil {
		t.Errorf("new: %v", err)
	}
}

func TestParseEpilogueArgs(t *testing.T) {
	p := Preamble{Tag: TagAck, NumSegments: 1, Segments: [4]SegmentDesc{{8, 8}}}
	crc := []byte{1, 2, 3, 4}
	for _, tc := range []struct {
		rev      Revision
		crc0, ep []byte
		ok       bool
	}{
		{Rev1, crc, nil, true},
		{Rev1, crc, []byte{}, true},
		{Rev1, nil, nil, false},
		{Rev1, []byte{}, []byte{}, false},
		{Rev1, crc, make([]byte, EpilogueSizeRev1), false},
		{Rev0, nil, make([]byte, EpilogueSizeRev0), true},
		{Rev0, []byte{}, make([]byte, EpilogueSizeRev0), true},
		{Rev0, nil, []byte{}, false},
		{Rev0, crc, make([]byte, EpilogueSizeRev0), false},
	} {
		_, err := ParseEpilogue(tc.rev, &p, tc.crc0, tc.ep)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrDecode)) {
			t.Errorf("%v crc0=%v epi=%d: %v", tc.rev, tc.crc0, len(tc.ep), err)
		}
	}
	empty := Preamble{Tag: TagWait, NumSegments: 1}
	if _, err := ParseEpilogue(Rev1, &empty, []byte{}, []byte{}); err != nil {
		t.Errorf("empty WAIT: %v", err)
	}
}
