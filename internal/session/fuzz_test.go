package session

import (
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// clientTranscript returns the bytes a real client engine sends to a server
// engine through a complete handshake and three messages.
func clientTranscript(tb testing.TB) []byte {
	c, s, _, _ := pair(&testing.T{}, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
	var sent []byte
	for i := 0; i < 50; i++ {
		out := c.Output()
		sent = append(sent, out...)
		if len(out) > 0 {
			s.Feed(out)
			c.Advance(len(out))
		}
		if o := s.Output(); len(o) > 0 {
			c.Feed(o)
			s.Advance(len(o))
		}
		if c.State() == StateReady && len(c.Output()) == 0 {
			break
		}
	}
	for i := 0; i < 3; i++ {
		h := msgr2.MsgHeader2{Type: 42, Priority: 127}
		c.PrepareMessage(&h)
		var mf msgr2.MessageFrame
		mf.Encode(c.Revision(), &h, []byte("front"), nil, []byte("data"))
		sent = mf.AppendTo(sent)
	}
	c.QueueKeepalive(time.Unix(1700000000, 0))
	sent = append(sent, c.Output()...)
	return sent
}

// FuzzEngineFeed feeds arbitrary bytes to a server engine, in two chunks at
// a fuzzed split point: it must never panic, and once it reports an error
// it stays closed and refuses further input.
func FuzzEngineFeed(f *testing.F) {
	t := clientTranscript(f)
	f.Add(t, uint16(0))
	f.Add(t, uint16(37))
	f.Add(t[:len(t)/2], uint16(5))
	f.Add([]byte("ceph v027"), uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		_, s, _, _ := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
		s.fr.MaxSegmentBytes = 1 << 20
		cut := int(split)
		if cut > len(in) {
			cut = len(in)
		}
		var buf []byte
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			buf = append(buf, part...)
			n, need, err := s.Feed(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Feed consumed %d of %d bytes", n, len(buf))
			}
			if err != nil {
				if s.State() != StateClosed {
					t.Fatalf("error %v but state %v", err, s.State())
				}
				if _, _, err2 := s.Feed([]byte{1, 2, 3}); err2 == nil {
					t.Fatal("a closed engine accepted input")
				}
				return
			}
			if need > 4*(1<<20)+4096 {
				t.Fatalf("asks for %d bytes with a 1 MiB segment limit", need)
			}
			buf = buf[n:]
		}
	})
}
