package msgr2

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// captured frames from a ceph-mon 16.2.15 exchange with `ceph mon stat`;
// see testdata/README.md.
var captures = []struct {
	name string
	tags []Tag
	rev  Revision
}{
	{"conn0-c2s", []Tag{TagHello, TagAuthRequest, TagAuthSignature, TagClientIdent, TagMessage, TagMessage}, Rev1},
	{"conn0-s2c", []Tag{TagHello, TagAuthDone, TagAuthSignature, TagServerIdent, TagMessage, TagMessage, TagMessage}, Rev1},
	{"conn1-c2s", []Tag{TagHello, TagAuthRequest, TagAuthSignature, TagClientIdent, TagMessage, TagMessage, TagMessage, TagMessage, TagMessage, TagMessage}, Rev1},
	{"conn1-s2c", []Tag{TagHello, TagAuthDone, TagAuthSignature, TagServerIdent, TagMessage, TagMessage, TagMessage, TagMessage, TagMessage, TagMessage, TagMessage}, Rev1},
	// Our own client (cmd/msgr2-capture -client) against the same mon.
	{"own-c2s", []Tag{TagHello, TagAuthRequest, TagAuthSignature, TagClientIdent, TagKeepalive2, TagMessage, TagMessage, TagMessage, TagAck, TagAck, TagAck}, Rev1},
	{"own-s2c", []Tag{TagHello, TagAuthDone, TagAuthSignature, TagServerIdent, TagKeepalive2Ack, TagMessage, TagMessage, TagMessage}, Rev1},
	// The same with our banner offering no REVISION_1: msgr2.0 framing.
	{"own-rev0-c2s", []Tag{TagHello, TagAuthRequest, TagAuthSignature, TagClientIdent, TagKeepalive2, TagMessage, TagMessage, TagMessage, TagAck, TagAck, TagAck}, Rev0},
	{"own-rev0-s2c", []Tag{TagHello, TagAuthDone, TagAuthSignature, TagServerIdent, TagKeepalive2Ack, TagMessage, TagMessage, TagMessage}, Rev0},
}

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/capture/" + name + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type capturedFrame struct {
	raw []byte
	f   Frame
}

// splitCapture parses the banner and every frame of a capture.
func splitCapture(t testing.TB, b []byte, rev Revision) (Banner, []capturedFrame) {
	t.Helper()
	bn, n, err := ParseBanner(b)
	if err != nil {
		t.Fatalf("banner: %v", err)
	}
	b = b[n:]
	var out []capturedFrame
	r := FrameReader{Rev: rev}
	for len(b) > 0 {
		f, n, err := r.Decode(b)
		if err != nil {
			t.Fatalf("frame %d: %v (n=%d, %d bytes left)", len(out), err, n, len(b))
		}
		out = append(out, capturedFrame{raw: b[:n], f: f})
		b = b[n:]
	}
	return bn, out
}

func TestGoldenBanner(t *testing.T) {
	want := AppendBanner(nil, LocalBanner)
	for _, c := range captures {
		if c.name == "own-rev0-c2s" {
			continue // offers no features on purpose
		}
		b := readCapture(t, c.name)
		if !bytes.Equal(b[:BannerSize], want) {
			t.Errorf("%s: banner % x, ours % x", c.name, b[:BannerSize], want)
		}
		bn, _, err := ParseBanner(b)
		if err != nil || bn.Supported != FeatureRevision1 || bn.Required != 0 {
			t.Errorf("%s: banner %+v, %v", c.name, bn, err)
		}
		agreed, err := Negotiate(LocalBanner, bn)
		if err != nil || RevisionFor(agreed) != Rev1 {
			t.Errorf("%s: negotiate %v, %v", c.name, agreed, err)
		}
	}
}

// TestGoldenFrames decodes every captured frame (checking all crcs),
// decodes its payload, re-encodes it with this package and expects the
// very same bytes.
func TestGoldenFrames(t *testing.T) {
	for _, c := range captures {
		_, frames := splitCapture(t, readCapture(t, c.name), c.rev)
		if len(frames) != len(c.tags) {
			t.Fatalf("%s: %d frames, want %d", c.name, len(frames), len(c.tags))
		}
		for i, cf := range frames {
			f := cf.f
			if f.Tag() != c.tags[i] {
				t.Errorf("%s frame %d: tag %v, want %v", c.name, i, f.Tag(), c.tags[i])
			}
			if f.Aborted {
				t.Errorf("%s frame %d: aborted", c.name, i)
			}
			var re []byte
			if f.Tag() == TagMessage {
				h, front, middle, data, err := DecodeMessage(&f)
				if err != nil {
					t.Fatalf("%s frame %d: %v", c.name, i, err)
				}
				var mf MessageFrame
				mf.Encode(c.rev, &h, front, middle, data)
				re = mf.AppendTo(nil)
				if mf.Len() != len(re) {
					t.Errorf("%s frame %d: Len %d, AppendTo %d bytes", c.name, i, mf.Len(), len(re))
				}
				var iov []byte
				for _, v := range mf.Iovecs(nil) {
					iov = append(iov, v...)
				}
				if !bytes.Equal(iov, re) {
					t.Errorf("%s frame %d: iovecs differ from AppendTo", c.name, i)
				}
				// Typed messages re-encode to the same front.
				if m, err := DefaultRegistry.Decode(&h, front, middle, data); err == nil {
					if got := m.AppendFront(nil); !bytes.Equal(got, front) {
						t.Errorf("%s frame %d: %v front re-encodes differently:\n% x\n% x", c.name, i, h.Type, got, front)
					}
				} else if !errors.Is(err, ErrUnknownMessage) {
					t.Errorf("%s frame %d: %v", c.name, i, err)
				}
			} else {
				p, err := DecodePayload(f.Tag(), f.Payload())
				if err != nil {
					t.Fatalf("%s frame %d: %v", c.name, i, err)
				}
				re = AppendControl(nil, c.rev, p)
			}
			if !bytes.Equal(re, cf.raw) {
				t.Errorf("%s frame %d (%v): re-encoded frame differs\nours % x\nreal % x", c.name, i, f.Tag(), re, cf.raw)
			}
		}
	}
}

func TestGoldenContent(t *testing.T) {
	_, c2s := splitCapture(t, readCapture(t, "conn1-c2s"), Rev1)
	_, s2c := splitCapture(t, readCapture(t, "conn1-s2c"), Rev1)

	var hello Hello
	if err := DecodeFramePayload(&c2s[0].f, &hello); err != nil {
		t.Fatal(err)
	}
	if hello.EntityType != EntityClient || hello.PeerAddr.String() != "v2:127.0.0.1:13310/0" {
		t.Errorf("client hello %+v", hello)
	}

	var req AuthRequest
	if err := DecodeFramePayload(&c2s[1].f, &req); err != nil {
		t.Fatal(err)
	}
	if req.Method != AuthNone || !reflect.DeepEqual(req.PreferredModes, []ConMode{ConModeCRC}) {
		t.Errorf("auth request %+v", req)
	}
	var mar MonAuthRequest
	if err := mar.Decode(req.Payload); err != nil {
		t.Fatal(err)
	}
	if mar.Name != (AuthName{Type: EntityClient, ID: "admin"}) || mar.GlobalID != 0 || len(mar.Extra) != 0 {
		t.Errorf("mon auth request %+v", mar)
	}
	if got := mar.Append(nil); !bytes.Equal(got, req.Payload) {
		t.Errorf("mon auth request re-encodes as % x, want % x", got, req.Payload)
	}

	var done AuthDone
	if err := DecodeFramePayload(&s2c[1].f, &done); err != nil {
		t.Fatal(err)
	}
	if done.GlobalID == 0 || done.ConMode != ConModeCRC {
		t.Errorf("auth done %+v", done)
	}

	// With auth none the signature is all zeros on both sides.
	for _, f := range []*Frame{&c2s[2].f, &s2c[2].f} {
		var sig AuthSignature
		if err := DecodeFramePayload(f, &sig); err != nil {
			t.Fatal(err)
		}
		if sig.Signature != Signature(nil, []byte("anything")) {
			t.Errorf("signature % x, want zeros", sig.Signature)
		}
	}

	var ci ClientIdent
	if err := DecodeFramePayload(&c2s[3].f, &ci); err != nil {
		t.Fatal(err)
	}
	if len(ci.Addrs) != 1 || ci.Addrs[0].Type != AddrAny || ci.TargetAddr.String() != "v2:127.0.0.1:13310/0" || ci.GlobalID != -1 {
		t.Errorf("client ident %+v", ci)
	}

	var si ServerIdent
	if err := DecodeFramePayload(&s2c[3].f, &si); err != nil {
		t.Fatal(err)
	}
	if len(si.Addrs) != 2 || si.Addrs[0].String() != "v2:127.0.0.1:13310/0" || si.Addrs[1].String() != "v1:127.0.0.1:13311/0" {
		t.Errorf("server ident addrs %v", si.Addrs)
	}

	// The last two client frames are mon commands, the last two server
	// frames their acks with the output in the data segment.
	var cmds []string
	for _, cf := range c2s[len(c2s)-2:] {
		h, front, middle, data, err := DecodeMessage(&cf.f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DefaultRegistry.Decode(&h, front, middle, data)
		if err != nil {
			t.Fatal(err)
		}
		mc, ok := m.(*MonCommand)
		if !ok {
			t.Fatalf("got %T, want *MonCommand", m)
		}
		if mc.FSID.String() != "bf8caaa7-c79d-44d8-bbd7-1f162ad2cde0" {
			t.Errorf("fsid %v", mc.FSID)
		}
		cmds = append(cmds, mc.Cmd...)
	}
	if want := []string{`{"prefix": "get_command_descriptions"}`, `{"prefix": "mon stat"}`}; !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	last := s2c[len(s2c)-1].f
	if last.Preamble.NumSegments != 4 || last.Preamble.Segments[3].Align != PageAlignment {
		t.Errorf("ack preamble %+v", last.Preamble)
	}
	h, front, middle, data, err := DecodeMessage(&last)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DefaultRegistry.Decode(&h, front, middle, data)
	if err != nil {
		t.Fatal(err)
	}
	ack := m.(*MonCommandAck)
	if ack.Result != 0 || !strings.Contains(string(ack.Output), "1 mons") || ack.Cmd[0] != `{"prefix": "mon stat"}` {
		t.Errorf("ack %+v output %q", ack, ack.Output)
	}
	if h.Flags != FooterComplete|FooterNoCRC || h.Priority != PrioHigh {
		t.Errorf("ack header %+v", h)
	}
}

// TestGoldenStream feeds a whole capture to the frame reader in small
// pieces, as an event loop would, and expects the same frames.
func TestGoldenStream(t *testing.T) {
	all := readCapture(t, "conn1-s2c")
	_, want := splitCapture(t, all, Rev1)
	for _, step := range []int{1, 7, 100, 4096} {
		_, n, _ := ParseBanner(all)
		stream := all[n:]
		var buf []byte
		var got []Tag
		r := FrameReader{Rev: Rev1}
		for len(stream) > 0 || len(buf) > 0 {
			take := min(step, len(stream))
			buf = append(buf, stream[:take]...)
			stream = stream[take:]
			for {
				f, n, err := r.Decode(buf)
				if err == ErrShort {
					if n <= len(buf) {
						t.Fatalf("ErrShort with need %d <= have %d", n, len(buf))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, f.Tag())
				buf = buf[n:]
			}
			if take == 0 && len(buf) > 0 {
				t.Fatalf("%d bytes left over", len(buf))
			}
		}
		if len(got) != len(want) {
			t.Errorf("step %d: %d frames, want %d", step, len(got), len(want))
		}
	}
}

// TestGoldenOwnClient checks the mon's answers to frames our encoder built:
// it accepted the handshake, echoed the keepalive stamp and answered every
// message.
func TestGoldenOwnClient(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		rev    Revision
	}{{"own", Rev1}, {"own-rev0", Rev0}} {
		t.Run(tc.prefix, func(t *testing.T) { testOwnClient(t, tc.prefix, tc.rev) })
	}
}

func testOwnClient(t *testing.T, prefix string, rev Revision) {
	c2sBanner, c2s := splitCapture(t, readCapture(t, prefix+"-c2s"), rev)
	s2cBanner, s2c := splitCapture(t, readCapture(t, prefix+"-s2c"), rev)
	if a, err := Negotiate(c2sBanner, s2cBanner); err != nil || RevisionFor(a) != rev {
		t.Fatalf("banners %v / %v negotiate %v, %v", c2sBanner, s2cBanner, a, err)
	}
	var ka Keepalive2
	var kaAck Keepalive2Ack
	if err := DecodeFramePayload(&c2s[4].f, &ka); err != nil {
		t.Fatal(err)
	}
	if err := DecodeFramePayload(&s2c[4].f, &kaAck); err != nil {
		t.Fatal(err)
	}
	if ka.Stamp != kaAck.Stamp {
		t.Errorf("keepalive stamp %v echoed as %v", ka.Stamp, kaAck.Stamp)
	}
	var got []Message
	for _, cf := range s2c[5:] {
		h, front, middle, data, err := DecodeMessage(&cf.f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DefaultRegistry.Decode(&h, front, middle, data)
		if err != nil {
			t.Fatalf("%v: %v", h.Type, err)
		}
		got = append(got, m)
	}
	if r, ok := got[0].(*MonGetVersionReply); !ok || r.Handle != 1 || r.Version == 0 {
		t.Errorf("version reply %+v", got[0])
	}
	if p, ok := got[1].(*Ping); !ok || !strings.Contains(NewDecoder(p.Front).String(), "health") {
		t.Errorf("ping reply %T", got[1])
	}
	if a, ok := got[2].(*MonCommandAck); !ok || a.Result != 0 || !strings.Contains(string(a.Output), "quorum 0 a") {
		t.Errorf("command ack %+v", got[2])
	}
}
