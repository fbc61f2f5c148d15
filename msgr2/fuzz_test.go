package msgr2

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The seed corpora under testdata/fuzz hold every captured frame; they are
// written by TestWriteFuzzCorpus. The f.Add seeds below make the targets
// useful as plain tests too.

func FuzzPreamble(f *testing.F) {
	p := Preamble{Tag: TagMessage, NumSegments: 4, Segments: [4]SegmentDesc{{41, 8}, {1, 8}, {2, 8}, {3, 4096}}}
	f.Add(AppendPreamble(nil, &p))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePreamble(b)
		if err != nil {
			return
		}
		again, err := ParsePreamble(AppendPreamble(nil, &p))
		if err != nil || again != p {
			t.Fatalf("re-encoded preamble: %+v %v, want %+v", again, err, p)
		}
		for _, rev := range []Revision{Rev0, Rev1} {
			if l := p.Layout(rev); l.Size < PreambleSize {
				t.Fatalf("layout %+v", l)
			}
		}
	})
}

func FuzzFramePayload(f *testing.F) {
	for _, p := range samplePayloads() {
		f.Add(byte(p.Tag()), p.AppendPayload(nil))
	}
	f.Fuzz(func(t *testing.T, tag byte, b []byte) {
		p, err := DecodePayload(Tag(tag), b)
		if err != nil {
			return
		}
		enc := p.AppendPayload(nil)
		q, err := DecodePayload(Tag(tag), enc)
		if err != nil {
			t.Fatalf("%v: re-encoded payload fails: %v", Tag(tag), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%v: round trip %+v != %+v", Tag(tag), q, p)
		}
		if enc2 := q.AppendPayload(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("%v: encoding not stable", Tag(tag))
		}
	})
}

func FuzzMessageHeader(f *testing.F) {
	for _, m := range sampleMessages() {
		h := NewMessageHeader(m)
		f.Add(append(AppendMsgHeader2(nil, &h), m.AppendFront(nil)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseMsgHeader2(b)
		if err != nil {
			return
		}
		if enc := AppendMsgHeader2(nil, &h); !bytes.Equal(enc, b[:MsgHeader2Size]) {
			t.Fatalf("header re-encodes differently")
		}
		front := b[MsgHeader2Size:]
		m, err := DefaultRegistry.Decode(&h, front, nil, nil)
		if err != nil {
			return
		}
		m2, err := DefaultRegistry.Decode(&h, m.AppendFront(nil), nil, nil)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("%v: round trip %+v, %v; want %+v", h.Type, m2, err, m)
		}
	})
}

func FuzzBanner(f *testing.F) {
	f.Add(AppendBanner(nil, LocalBanner))
	f.Add([]byte("ceph v027"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bn, n, err := ParseBanner(b)
		if err == ErrShort {
			if n <= len(b) {
				t.Fatalf("short with need %d <= %d", n, len(b))
			}
			return
		}
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		_, _ = Negotiate(LocalBanner, bn) // any answer: the property is not panicking
	})
}

func FuzzFrameDecode(f *testing.F) {
	for _, rev := range []Revision{Rev0, Rev1} {
		f.Add(byte(rev), append(AppendControl(nil, rev, &Ack{Seq: 3}), sampleMessageFrame(rev)...))
	}
	f.Fuzz(func(t *testing.T, rev byte, b []byte) {
		r := FrameReader{Rev: Revision(rev), MaxSegmentBytes: 1 << 20}
		for len(b) > 0 {
			fr, n, err := r.Decode(b)
			if err == ErrShort {
				if n <= len(b) {
					t.Fatalf("short with need %d <= %d", n, len(b))
				}
				return
			}
			if err != nil {
				return
			}
			if n <= 0 || n > len(b) {
				t.Fatalf("consumed %d of %d", n, len(b))
			}
			if fr.Tag() == TagMessage {
				h, front, middle, data, err := DecodeMessage(&fr)
				// Any answer: the property is not panicking.
				if err == nil {
					_, _ = DefaultRegistry.Decode(&h, front, middle, data)
				}
			} else {
				_, _ = DecodePayload(fr.Tag(), fr.Payload()) // as above
			}
			b = b[n:]
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora from the captured frames.
// It runs only with MSGR2_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MSGR2_WRITE_CORPUS") == "" {
		t.Skip("set MSGR2_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(target, name string, args ...any) {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&buf, "[]byte(%q)\n", v)
			case byte:
				fmt.Fprintf(&buf, "byte(%q)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range captures {
		all := readCapture(t, c.name)
		write("FuzzBanner", c.name, all[:BannerSize])
		if len(all) < 8192 { // the big one is there frame by frame
			write("FuzzFrameDecode", c.name, byte(c.rev), all[BannerSize:])
		}
		_, frames := splitCapture(t, all, c.rev)
		for i, cf := range frames {
			name := fmt.Sprintf("%s-%02d-%s", c.name, i, cf.f.Tag())
			write("FuzzPreamble", name, cf.raw[:PreambleSize])
			write("FuzzFrameDecode", name, byte(c.rev), cf.raw)
			if cf.f.Tag() == TagMessage {
				write("FuzzMessageHeader", name, append(append([]byte(nil), cf.f.Segments[0]...), cf.f.Segments[1]...))
			} else {
				write("FuzzFramePayload", name, byte(cf.f.Tag()), cf.f.Payload())
			}
		}
	}
	write("FuzzBanner", "v1", []byte("ceph v027\n"))
	write("FuzzFrameDecode", "rev0-sample", byte(Rev0), append(AppendControl(nil, Rev0, &Keepalive2{Stamp: UTime{1, 2}}), sampleMessageFrame(Rev0)...))
}

// FuzzAuthMessages decodes MAuth and MAuthReply fronts: no panic, and
// what decodes encodes back to the bytes it came from (trailing bytes are
// ignored, as Ceph's decoders do for newer encodings).
func FuzzAuthMessages(f *testing.F) {
	f.Add(true, (&MonAuth{Paxos: PaxosHeader{SessionMon: -1}, Protocol: 2, Payload: []byte{0, 4}, MonMapEpoch: 1}).AppendFront(nil))
	f.Add(false, (&MonAuthReply{Protocol: 2, Result: -13, GlobalID: 7, Payload: []byte("p"), Msg: "m"}).AppendFront(nil))
	f.Fuzz(func(t *testing.T, request bool, b []byte) {
		var m Message = new(MonAuthReply)
		if request {
			m = new(MonAuth)
		}
		if err := m.DecodeFront(nil, b); err != nil {
			return
		}
		got := m.AppendFront(nil)
		if a, ok := m.(*MonAuth); ok && len(got) > len(b) && a.MonMapEpoch == 0 {
			got = got[:len(got)-4] // the optional epoch was absent
		}
		if !bytes.HasPrefix(b, got) {
			t.Fatalf("round trip: %x -> %x", b, got)
		}
	})
}
