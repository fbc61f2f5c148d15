package cephx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gomsgr/gomsgr/msgr2"
)

// exchange is the cephx part of one captured msgr2 connection between the
// ceph CLI and a ceph-mon (testdata/capture/README.md): the frames in
// order, each with the stream offset at which it ends.
type exchange struct {
	c2s, s2c []capFrame
	in, out  []byte // the raw streams: client to server, server to client
}

type capFrame struct {
	tag     msgr2.Tag
	payload []byte
	end     int // stream offset just past the frame
}

// readStream decodes a captured stream's banner and its crc-mode frames up
// to and including stop (the secure frames after it are not decoded here).
func readStream(t *testing.T, b []byte, stop msgr2.Tag) []capFrame {
	t.Helper()
	_, n, err := msgr2.ParseBanner(b)
	if err != nil {
		t.Fatal(err)
	}
	fr := msgr2.FrameReader{Rev: msgr2.Rev1}
	var out []capFrame
	for n < len(b) {
		f, fn, err := fr.Decode(b[n:])
		if err != nil {
			t.Fatalf("frame after %d: %v", len(out), err)
		}
		n += fn
		out = append(out, capFrame{tag: f.Tag(), payload: f.Payload(), end: n})
		if f.Tag() == stop {
			break
		}
	}
	return out
}

func loadExchange(t *testing.T, mode, conn string) exchange {
	t.Helper()
	dir := filepath.Join("testdata", "capture", mode)
	in, err := os.ReadFile(filepath.Join(dir, conn+"-c2s.bin"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, conn+"-s2c.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return exchange{c2s: readStream(t, in, msgr2.TagAuthRequestMore), s2c: readStream(t, out, msgr2.TagAuthDone), in: in, out: out}
}

func (e exchange) find(t *testing.T, frames []capFrame, tag msgr2.Tag) capFrame {
	t.Helper()
	for _, f := range frames {
		if f.tag == tag {
			return f
		}
	}
	t.Fatalf("no %v frame in the capture", tag)
	return capFrame{}
}

func captureKey(t *testing.T) Key {
	t.Helper()
	ring, err := LoadKeyring(filepath.Join("testdata", "capture", "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ring.Lookup("client.admin")
	if err != nil {
		t.Fatal(err)
	}
	return e.Key
}

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCapturedExchange checks this package against Ceph's own cephx, on
// four real connections of the ceph CLI (16.2.15) to a ceph-mon requiring
// cephx, in crc and in secure mode. The challenges, session keys and
// ticket validities below are what the CLI printed (debug_auth = 30) while
// it ran; the test derives them from the bytes on the wire and the
// client's keyring: the challenge key the CLI sent, the tickets and the
// connection secret in AUTH_DONE, and (crc mode, where AUTH_SIGNATURE
// travels in clear) both sides' HMAC signatures of the handshake.
func TestCapturedExchange(t *testing.T) {
	key := captureKey(t)
	for _, c := range []struct {
		mode, conn             string
		server, client         uint64
		session                string
		secret                 int
		extra                  map[uint32]string
		authValidity, validity uint32
	}{
		{mode: "crc", conn: "conn0", server: 0x30f0e4d96abe28df, client: 0x5b6cf6d22fce74b9,
			session: "AQBYWBNrkTy5HhAAnSmnJGUw3r9iYOJDn0Kqng=="},
		{mode: "crc", conn: "conn1", server: 0x8321315463d89054, client: 0xd251865c035552d0,
			session: "AQBYWBNrIXoEHxAAk0Hc7wwAjHSfXWIT2z+VEQ==",
			extra: map[uint32]string{
				EntityMon: "AQBYWBNrBQwFHxAABZ54B2uh6RCaTUbQqj7GAg==",
				EntityOSD: "AQBYWBNrmiIFHxAAHHNx+euRcs1q4uSF793mpg==",
				EntityMgr: "AQBYWBNrLDoFHxAAuql1akaneNTiXj+YpennJg==",
			}},
		{mode: "secure", conn: "conn0", server: 0xa8458904b939a298, client: 0xcc68fd05cfd697e5,
			session: "AQBiWBNrXxhkGRAAHBOAno1YfmzNPAsHMdYXEw==", secret: 64},
		{mode: "secure", conn: "conn1", server: 0x7f3bfb9cf919dd23, client: 0xa884f83bc178edbe,
			session: "AQBiWBNrYoq6GRAAp8CC8RFSt5Xb0Bk2qThSTQ==", secret: 64,
			extra: map[uint32]string{
				EntityMon: "AQBiWBNr3je7GRAAW7Z0lcfbb1f7MyoTHLVlYg==",
				EntityOSD: "AQBiWBNrd0u7GRAAN9mdONqVe1okKJBDY3MCOw==",
				EntityMgr: "AQBiWBNrS2O7GRAAstPhpU0ujyYodhvSXEVOZA==",
			}},
	} {
		t.Run(c.mode+"/"+c.conn, func(t *testing.T) {
			e := loadExchange(t, c.mode, c.conn)

			var req msgr2.AuthRequest
			if err := req.DecodePayload(e.find(t, e.c2s, msgr2.TagAuthRequest).payload); err != nil {
				t.Fatal(err)
			}
			mar, err := DecodeMonAuthRequest(req.Payload)
			if err != nil || req.Method != msgr2.AuthCephx || mar.EntityType != EntityClient || mar.EntityID != "admin" {
				t.Fatalf("AUTH_REQUEST: method %v, %+v, %v", req.Method, mar, err)
			}
			var more msgr2.AuthReplyMore
			if err := more.DecodePayload(e.find(t, e.s2c, msgr2.TagAuthReplyMore).payload); err != nil {
				t.Fatal(err)
			}
			ch, err := DecodeServerChallenge(more.Payload)
			if err != nil || ch.Challenge != c.server {
				t.Fatalf("server challenge %#x, %v; the CLI logged %#x", ch.Challenge, err, c.server)
			}
			var rm msgr2.AuthRequestMore
			if err := rm.DecodePayload(e.find(t, e.c2s, msgr2.TagAuthRequestMore).payload); err != nil {
				t.Fatal(err)
			}
			a, err := DecodeAuthenticate(rm.Payload)
			if err != nil || a.ClientChallenge != c.client {
				t.Fatalf("client challenge %#x, %v; the CLI logged %#x", a.ClientChallenge, err, c.client)
			}
			if want := ChallengeKey(key, c.server, c.client); a.Key != want {
				t.Fatalf("the CLI's challenge key %#x, ChallengeKey gives %#x", a.Key, want)
			}

			doneFrame := e.find(t, e.s2c, msgr2.TagAuthDone)
			var d msgr2.AuthDone
			if err := d.DecodePayload(doneFrame.payload); err != nil {
				t.Fatal(err)
			}
			wantMode := map[string]msgr2.ConMode{"crc": msgr2.ConModeCRC, "secure": msgr2.ConModeSecure}[c.mode]
			if d.ConMode != wantMode {
				t.Fatalf("AUTH_DONE mode %v, want %v", d.ConMode, wantMode)
			}
			done, err := ParseAuthDone(d.Payload, key)
			if err != nil {
				t.Fatal(err)
			}
			if done.SessionKey != mustKey(t, c.session) {
				t.Fatalf("session key %v, the CLI logged %s", done.SessionKey, c.session)
			}
			if len(done.ConnectionSecret) != c.secret {
				t.Fatalf("connection secret of %d bytes, want %d", len(done.ConnectionSecret), c.secret)
			}
			got := map[uint32]Key{}
			for _, tk := range done.Tickets {
				got[tk.ServiceID] = tk.SessionKey
				want := uint32(3600)
				if tk.ServiceID == EntityAuth {
					want = 259200 // auth_mon_ticket_ttl, 72 h
				}
				if tk.Validity.Sec != want {
					t.Errorf("service %#x: validity %d s, the CLI logged %d", tk.ServiceID, tk.Validity.Sec, want)
				}
			}
			for svc, s := range c.extra {
				if got[svc] != mustKey(t, s) {
					t.Errorf("service %#x: session key %v, the CLI logged %s", svc, got[svc], s)
				}
			}
			if len(done.Tickets) != 1+len(c.extra) {
				t.Errorf("%d tickets, want %d", len(done.Tickets), 1+len(c.extra))
			}

			if c.mode != "crc" {
				return // AUTH_SIGNATURE is encrypted in secure mode
			}
			// The client signs every byte it read through AUTH_DONE, the
			// server every byte it read through AUTH_REQUEST_MORE.
			cs := readStream(t, e.in, msgr2.TagAuthSignature)
			ss := readStream(t, e.out, msgr2.TagAuthSignature)
			clientSig, serverSig := cs[len(cs)-1], ss[len(ss)-1]
			reqMore := e.find(t, e.c2s, msgr2.TagAuthRequestMore)
			if want := Signature(done.SessionKey, e.out[:doneFrame.end]); string(clientSig.payload) != string(want[:]) {
				t.Errorf("the CLI's AUTH_SIGNATURE %x, Signature over the %d bytes it read gives %x", clientSig.payload, doneFrame.end, want)
			}
			if want := Signature(done.SessionKey, e.in[:reqMore.end]); string(serverSig.payload) != string(want[:]) {
				t.Errorf("the mon's AUTH_SIGNATURE %x, Signature over the %d bytes it read gives %x", serverSig.payload, reqMore.end, want)
			}
		})
	}
}

// TestCapturedSecureStreams opens the secure-mode records of the captured
// connections with msgr2's SecureRx, keyed by the connection secret that
// ParseAuthDone found: every frame after AUTH_DONE, both directions, to
// the end of each stream, must authenticate and parse; the first is each
// side's AUTH_SIGNATURE, which must be the HMAC of what the side read.
func TestCapturedSecureStreams(t *testing.T) {
	key := captureKey(t)
	for _, conn := range []string{"conn0", "conn1"} {
		t.Run(conn, func(t *testing.T) {
			e := loadExchange(t, "secure", conn)
			doneFrame := e.find(t, e.s2c, msgr2.TagAuthDone)
			var d msgr2.AuthDone
			if err := d.DecodePayload(doneFrame.payload); err != nil {
				t.Fatal(err)
			}
			done, err := ParseAuthDone(d.Payload, key)
			if err != nil {
				t.Fatal(err)
			}
			reqMore := e.find(t, e.c2s, msgr2.TagAuthRequestMore)
			for _, dir := range []struct {
				name   string
				stream []byte
				from   int  // offset of the first sealed frame
				client bool // the sender is the client
				signed []byte
			}{
				{"client to mon", e.in, reqMore.end, true, e.out[:doneFrame.end]},
				{"mon to client", e.out, doneFrame.end, false, e.in[:reqMore.end]},
			} {
				// The receiver's Rx: the client receives what the mon sent.
				_, rx, err := msgr2.NewSecure(done.ConnectionSecret, !dir.client)
				if err != nil {
					t.Fatal(err)
				}
				// The sender's Tx re-seals each frame: the bytes must be
				// the captured ones (layout, padding, nonces, tags).
				tx, _, err := msgr2.NewSecure(done.ConnectionSecret, dir.client)
				if err != nil {
					t.Fatal(err)
				}
				wire := dir.stream[dir.from:]
				fr := msgr2.FrameReader{Rev: msgr2.Rev1, Secure: rx}
				b := append([]byte(nil), dir.stream[dir.from:]...)
				var tags []msgr2.Tag
				for len(b) > 0 {
					f, n, err := fr.Decode(b)
					if err != nil {
						t.Fatalf("%s: frame %d (after %v): %v", dir.name, len(tags), tags, err)
					}
					if len(tags) == 0 {
						want := Signature(done.SessionKey, dir.signed)
						if f.Tag() != msgr2.TagAuthSignature || string(f.Payload()) != string(want[:]) {
							t.Fatalf("%s: first sealed frame %v %x, want AUTH_SIGNATURE %x", dir.name, f.Tag(), f.Payload(), want)
						}
					}
					var segs [][]byte
					for i := range int(f.Preamble.NumSegments) {
						segs = append(segs, f.Segments[i])
					}
					again, err := tx.AppendFrame(nil, f.Tag(), segs...)
					if err != nil || string(again) != string(wire[:n]) {
						t.Fatalf("%s: frame %d (%v) sealed again differs from the capture (%v)", dir.name, len(tags), f.Tag(), err)
					}
					tags = append(tags, f.Tag())
					b, wire = b[n:], wire[n:]
				}
				t.Logf("%s: %d sealed frames: %v", dir.name, len(tags), tags)
				if len(tags) < 3 {
					t.Fatalf("%s: only %d sealed frames", dir.name, len(tags))
				}
			}
		})
	}
}
