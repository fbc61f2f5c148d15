package msgr2

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

var (
	addr4 = EntityAddr{Type: AddrMsgr2, Nonce: 42, Addr: netip.MustParseAddrPort("10.1.2.3:3300")}
	addr6 = EntityAddr{Type: AddrLegacy, Nonce: 7, Addr: netip.MustParseAddrPort("[fe80::1]:6789"), FlowInfo: 5, ScopeID: 2}
	blank = EntityAddr{Type: AddrAny, Nonce: 9}
)

// samplePayloads holds one non-trivial value of every control payload.
func samplePayloads() []Payload {
	return []Payload{
		&Hello{EntityType: EntityOSD, PeerAddr: addr4},
		&AuthRequest{Method: AuthNone, PreferredModes: []ConMode{ConModeCRC, ConModeSecure}, Payload: []byte{10, 1, 2}},
		&AuthBadMethod{Method: AuthCephx, Result: -13, AllowedMethods: []AuthMethod{AuthNone}, AllowedModes: []ConMode{ConModeCRC}},
		&AuthReplyMore{Payload: []byte("challenge")},
		&AuthRequestMore{Payload: []byte("answer")},
		&AuthDone{GlobalID: 4099, ConMode: ConModeCRC, Payload: []byte{}},
		&AuthSignature{Signature: Signature([]byte("key"), []byte("rx"))},
		&ClientIdent{Addrs: AddrVec{addr4, addr6}, TargetAddr: addr4, GlobalID: -1, GlobalSeq: 3, SupportedFeatures: 1<<62 - 1, RequiredFeatures: 1 << 59, Flags: IdentLossy, Cookie: 77},
		&ServerIdent{Addrs: AddrVec{addr6}, GlobalID: 12, GlobalSeq: 4, SupportedFeatures: 5, RequiredFeatures: 6, Flags: 0, Cookie: 8},
		&IdentMissingFeatures{Features: 1 << 40},
		&SessionReconnect{Addrs: AddrVec{blank}, ClientCookie: 1, ServerCookie: 2, GlobalSeq: 3, ConnectSeq: 4, MsgSeq: 5},
		&SessionReset{Full: true},
		&SessionRetry{ConnectSeq: 9},
		&SessionRetryGlobal{GlobalSeq: 10},
		&SessionReconnectOK{MsgSeq: 11},
		&Wait{},
		&Keepalive2{Stamp: UTime{Sec: 1700000000, Nsec: 123456789}},
		&Keepalive2Ack{Stamp: UTime{Sec: 1, Nsec: 2}},
		&Ack{Seq: 1 << 33},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	seen := map[Tag]bool{}
	for _, p := range samplePayloads() {
		seen[p.Tag()] = true
		for _, rev := range []Revision{Rev0, Rev1} {
			wire := AppendControl(nil, rev, p)
			// Two frames back to back: the reader must stop at the first.
			wire = append(wire, wire...)
			r := FrameReader{Rev: rev}
			f, n, err := r.Decode(wire)
			if err != nil {
				t.Fatalf("%v %v: %v", p.Tag(), rev, err)
			}
			if n != len(wire)/2 || f.Tag() != p.Tag() {
				t.Fatalf("%v %v: n=%d of %d, tag %v", p.Tag(), rev, n, len(wire), f.Tag())
			}
			got, err := DecodePayload(f.Tag(), f.Payload())
			if err != nil {
				t.Fatalf("%v %v: %v", p.Tag(), rev, err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Errorf("%v %v: got %+v, want %+v", p.Tag(), rev, got, p)
			}
		}
	}
	for tag := TagHello; tag <= TagAck; tag++ {
		if tag != TagMessage && !seen[tag] {
			t.Errorf("no round trip for %v", tag)
		}
	}
}

func TestAppendFrameEmpty(t *testing.T) {
	for _, rev := range []Revision{Rev0, Rev1} {
		wire := AppendFrame(nil, rev, TagWait)
		if !bytes.Equal(wire, AppendControl(nil, rev, &Wait{})) {
			t.Errorf("%v: AppendFrame without segments differs from an empty WAIT", rev)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AppendFrame with 5 segments did not panic")
		}
	}()
	AppendFrame(nil, Rev1, TagMessage, nil, nil, nil, nil, nil)
}

func TestAppendFrameMatchesControl(t *testing.T) {
	for _, p := range samplePayloads() {
		for _, rev := range []Revision{Rev0, Rev1} {
			a := AppendControl(nil, rev, p)
			b := AppendFrame(nil, rev, p.Tag(), p.AppendPayload(nil))
			if !bytes.Equal(a, b) {
				t.Errorf("%v %v: AppendFrame and AppendControl differ", p.Tag(), rev)
			}
		}
	}
}

func sampleMessages() []Message {
	return []Message{
		&Ping{},
		&MonGetMap{},
		&MonGetVersion{Handle: 3, What: "osdmap"},
		&MonGetVersionReply{Handle: 3, Version: 10, OldestVersion: 1},
		&MonCommand{Paxos: PaxosHeader{SessionMon: -1}, FSID: UUID{1, 2, 3}, Cmd: []string{`{"prefix": "mon stat"}`}},
		&MonCommandAck{Paxos: PaxosHeader{Version: 1, SessionMon: -1}, Result: -2, Status: "nope", Cmd: []string{"x", "y"}, Output: []byte("out")},
		&MonAuth{Paxos: PaxosHeader{SessionMon: -1}, Protocol: uint32(AuthCephx), Payload: []byte{0, 4}, MonMapEpoch: 1},
		&MonAuthReply{Protocol: uint32(AuthCephx), Result: -13, GlobalID: 4100, Payload: []byte("x"), Msg: "denied"},
		&Command{FSID: UUID{9}, Cmd: []string{`{"prefix": "version"}`}, Input: []byte("in")},
		&CommandReply{Result: -22, Status: "bad", Output: []byte("{}")},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		for _, rev := range []Revision{Rev0, Rev1} {
			h := NewMessageHeader(m)
			h.Seq, h.Tid, h.AckSeq = 5, 6, 4
			front := m.AppendFront(nil)
			var data []byte
			if dc, ok := m.(DataCarrier); ok {
				data = dc.DataSegment()
			}
			var mf MessageFrame
			mf.Encode(rev, &h, front, nil, data)
			wire := mf.AppendTo(nil)
			r := FrameReader{Rev: rev}
			f, n, err := r.Decode(wire)
			if err != nil || n != len(wire) {
				t.Fatalf("%v %v: n=%d/%d %v", m.Type(), rev, n, len(wire), err)
			}
			gh, gf, gm, gd, err := DecodeMessage(&f)
			if err != nil {
				t.Fatal(err)
			}
			if gh != h {
				t.Errorf("%v: header %+v, want %+v", m.Type(), gh, h)
			}
			got, err := DefaultRegistry.Decode(&gh, gf, gm, gd)
			if err != nil {
				t.Fatalf("%v: %v", m.Type(), err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("%v: got %+v, want %+v", m.Type(), got, m)
			}
		}
	}
}

func TestMessageFrameLayout(t *testing.T) {
	h := MsgHeader2{Seq: 1, Type: MsgPing}
	data := bytes.Repeat([]byte{7}, 5000)
	for _, tc := range []struct {
		rev                 Revision
		front, middle, data []byte
		segs, iovecs, size  int
	}{
		{Rev1, nil, nil, nil, 1, 1, PreambleSize + MsgHeader2Size + CRCSize},
		{Rev0, nil, nil, nil, 1, 2, PreambleSize + MsgHeader2Size + EpilogueSizeRev0},
		{Rev1, []byte("f"), nil, nil, 2, 3, PreambleSize + MsgHeader2Size + CRCSize + 1 + EpilogueSizeRev1},
		{Rev1, nil, nil, data, 4, 3, PreambleSize + MsgHeader2Size + CRCSize + 5000 + EpilogueSizeRev1},
		{Rev1, []byte("f"), []byte("m"), data, 4, 5, PreambleSize + MsgHeader2Size + CRCSize + 5002 + EpilogueSizeRev1},
	} {
		var mf MessageFrame
		mf.Encode(tc.rev, &h, tc.front, tc.middle, tc.data)
		p := mf.Preamble()
		if int(p.NumSegments) != tc.segs || len(mf.Iovecs(nil)) != tc.iovecs || mf.Len() != tc.size || p.FrameSize(tc.rev) != tc.size {
			t.Errorf("%+v: segs %d iovecs %d len %d", tc, p.NumSegments, len(mf.Iovecs(nil)), mf.Len())
		}
		if tc.segs == 4 && p.Segments[3].Align != PageAlignment {
			t.Errorf("data alignment %d", p.Segments[3].Align)
		}
		// The data iovec references the caller's slice, not a copy.
		if tc.data != nil {
			iov := mf.Iovecs(nil)
			if &iov[len(iov)-2][0] != &tc.data[0] {
				t.Errorf("data segment was copied")
			}
		}
	}
}

func TestAddrRoundTrip(t *testing.T) {
	for _, a := range []EntityAddr{addr4, addr6, blank, {}} {
		d := NewDecoder(AppendEntityAddr(nil, a))
		if got := d.EntityAddr(); d.Err() != nil || got != a {
			t.Errorf("addr2 %v: got %v, %v", a, got, d.Err())
		}
		if d.Remaining() != 0 {
			t.Errorf("addr2 %v: %d bytes left", a, d.Remaining())
		}
		leg := AppendEntityAddrLegacy(nil, a)
		if len(leg) != legacyAddrLen {
			t.Errorf("legacy length %d", len(leg))
		}
		d = NewDecoder(leg)
		want := a
		want.Type = AddrLegacy
		if got := d.EntityAddr(); d.Err() != nil || got != want {
			t.Errorf("legacy %v: got %v, %v", a, got, d.Err())
		}
		// A single address decodes as an addrvec of one, as in Ceph.
		d = NewDecoder(AppendEntityAddr(nil, a))
		if v := d.AddrVec(); d.Err() != nil || len(v) != 1 || v[0] != a {
			t.Errorf("addrvec from addr %v: %v %v", a, v, d.Err())
		}
	}
	// The IPv4 form as Ceph writes it.
	want := []byte{1, 1, 1, 28, 0, 0, 0, 2, 0, 0, 0, 42, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0x0c, 0xe4, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0}
	if got := AppendEntityAddr(nil, addr4); !bytes.Equal(got, want) {
		t.Errorf("addr4 encodes as % x, want % x", got, want)
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	var b []byte
	b = AppendString(b, "héllo")
	b = AppendStringSlice(b, []string{"a", "", "bc"})
	b = AppendStringMap(b, map[string]string{"z": "1", "a": "2"})
	b = AppendU32Slice(b, []uint32{1, 2, 3})
	b = AppendEntityName(b, EntityName{Type: EntityOSD, Num: 3})
	b = AppendUTime(b, UTime{Sec: 5, Nsec: 6})
	b, mark := AppendStructStart(b, 3, 1)
	b = AppendU64(b, 99)
	b = AppendBool(b, true)
	b = FinishStruct(b, mark)
	b = AppendU16(b, 0xbeef)

	d := NewDecoder(b)
	if s := d.String(); s != "héllo" {
		t.Errorf("string %q", s)
	}
	if v := d.StringSlice(); !reflect.DeepEqual(v, []string{"a", "", "bc"}) {
		t.Errorf("strings %q", v)
	}
	if m := d.StringMap(); !reflect.DeepEqual(m, map[string]string{"z": "1", "a": "2"}) {
		t.Errorf("map %v", m)
	}
	if v := d.U32Slice(); !reflect.DeepEqual(v, []uint32{1, 2, 3}) {
		t.Errorf("u32s %v", v)
	}
	if n := d.EntityName(); n.String() != "osd.3" {
		t.Errorf("name %v", n)
	}
	if u := d.UTime(); u != (UTime{5, 6}) {
		t.Errorf("utime %v", u)
	}
	// A v2 decoder reads a v3 struct with compat 1 and skips what it does
	// not know.
	v, end := d.StructStart(2)
	if v != 3 || d.U64() != 99 {
		t.Errorf("struct v%d", v)
	}
	d.StructEnd(end)
	if x := d.U16(); x != 0xbeef || d.Err() != nil || d.Remaining() != 0 {
		t.Errorf("after struct: %x %v %d", x, d.Err(), d.Remaining())
	}
}

func TestCRC32C(t *testing.T) {
	// ceph_crc32c reference values (src/test/common/test_crc32c.cc).
	for _, tc := range []struct {
		seed uint32
		in   string
		want uint32
	}{
		{0, "foo bar baz", 4119623852},
		{1234, "foo bar baz", 881700046},
		{0, "whiz bang boom", 2360230088},
		{5678, "whiz bang boom", 3743019208},
		{0xffffffff, "", 0xffffffff},
	} {
		if got := CRC32C(tc.seed, []byte(tc.in)); got != tc.want {
			t.Errorf("CRC32C(%d, %q) = %d, want %d", tc.seed, tc.in, got, tc.want)
		}
	}
	b := bytes.Repeat([]byte("0123456789"), 1000)
	if got := SegmentCRCUpdate(SegmentCRCUpdate(0xffffffff, b[:333]), b[333:]); got != SegmentCRC(b) {
		t.Errorf("piecewise crc %x != %x", got, SegmentCRC(b))
	}
}

func TestStrings(t *testing.T) {
	for tag := Tag(0); tag < 25; tag++ {
		if tag.String() == "" {
			t.Errorf("empty name for tag %d", tag)
		}
	}
	if TagAuthSignature.String() != "AUTH_SIGNATURE" || Tag(99).String() != "TAG(99)" {
		t.Error("tag names")
	}
	if MsgMonCommandAck.String() != "mon_command_ack" || (FeatureRevision1|FeatureCompression).String() != "REVISION_1|COMPRESSION" {
		t.Error("names")
	}
	if Rev1.String() != "msgr2.1" || ConModeCRC.String() != "crc" || AuthNone.String() != "none" || AddrMsgr2.String() != "v2" {
		t.Error("enum names")
	}
}

func TestMessageEncodeVec(t *testing.T) {
	h := MsgHeader2{Seq: 9, Type: MsgMonCommandAck}
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	for _, rev := range []Revision{Rev0, Rev1} {
		var one, vec MessageFrame
		one.Encode(rev, &h, []byte("front"), nil, data)
		vec.EncodeVec(rev, &h, []byte("front"), nil, [][]byte{data[:100], nil, data[100:4096], data[4096:]})
		if !bytes.Equal(one.AppendTo(nil), vec.AppendTo(nil)) || one.Len() != vec.Len() {
			t.Errorf("%v: EncodeVec differs from Encode", rev)
		}
		if n := len(vec.Iovecs(nil)); n != 6 {
			t.Errorf("%v: %d iovecs, want 6", rev, n)
		}
	}
}

// TestDirectSegmentRead follows the path for segments larger than the
// prefetch buffer: parse the preamble, compute the layout, place each
// segment in its own buffer, then verify the crcs with VerifyFrame.
func TestDirectSegmentRead(t *testing.T) {
	_, frames := splitCapture(t, readCapture(t, "conn1-s2c"), Rev1)
	wire := frames[len(frames)-2].raw // the 73 KiB get_command_descriptions ack
	for _, corrupt := range []bool{false, true} {
		p, err := ParsePreamble(wire)
		if err != nil {
			t.Fatal(err)
		}
		l := p.Layout(Rev1)
		if l.Size != len(wire) {
			t.Fatalf("layout size %d, frame %d", l.Size, len(wire))
		}
		// The header segment can be checked on its own first.
		if err := VerifySegment0(Rev1, &p, wire[l.Segment[0]:l.CRC0], wire[l.CRC0:l.CRC0+CRCSize]); err != nil {
			t.Fatal(err)
		}
		bad := append([]byte(nil), wire[l.Segment[0]:l.CRC0]...)
		bad[0] ^= 1
		if err := VerifySegment0(Rev1, &p, bad, wire[l.CRC0:l.CRC0+CRCSize]); !errors.Is(err, ErrBadCRC) {
			t.Errorf("corrupt header: %v", err)
		}
		var segs [MaxSegments][]byte
		for i := 0; i < int(p.NumSegments); i++ {
			segs[i] = append([]byte(nil), wire[l.Segment[i]:l.Segment[i]+int(p.Segments[i].Len)]...)
		}
		if corrupt {
			segs[3][1000] ^= 1
		}
		e, err := ParseEpilogue(Rev1, &p, wire[l.CRC0:l.CRC0+CRCSize], wire[l.Epilogue:l.Size])
		if err != nil {
			t.Fatal(err)
		}
		aborted, err := VerifyFrame(Rev1, &p, &segs, &e, false)
		if corrupt != errors.Is(err, ErrBadCRC) || aborted {
			t.Errorf("corrupt=%v: aborted=%v err=%v", corrupt, aborted, err)
		}
	}
}

func TestUUID(t *testing.T) {
	const s = "bf8caaa7-c79d-44d8-bbd7-1f162ad2cde0"
	u, err := ParseUUID(s)
	if err != nil || u.String() != s {
		t.Errorf("ParseUUID(%q) = %v, %v", s, u, err)
	}
	for _, bad := range []string{"", "xyz", s + "0", s[:35]} {
		if _, err := ParseUUID(bad); !errors.Is(err, ErrDecode) {
			t.Errorf("ParseUUID(%q): %v", bad, err)
		}
	}
}

func TestMsgFooterRoundTrip(t *testing.T) {
	f := MsgFooter{FrontCRC: 1, MiddleCRC: 2, DataCRC: 3, Sig: 4, Flags: FooterComplete | FooterSigned}
	b := AppendMsgFooter(nil, &f)
	if len(b) != MsgFooterSize {
		t.Fatalf("footer is %d bytes", len(b))
	}
	if got, err := ParseMsgFooter(b); err != nil || got != f {
		t.Errorf("footer %+v, %v", got, err)
	}
	if _, err := ParseMsgFooter(b[:20]); !errors.Is(err, ErrDecode) {
		t.Errorf("short footer: %v", err)
	}
}
