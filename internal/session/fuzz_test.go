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
			if _, _, err := s.Feed(out); err != nil {
				tb.Fatalf("server Feed: %v", err)
			}
			c.Advance(len(out))
		}
		if o := s.Output(); len(o) > 0 {
			if _, _, err := c.Feed(o); err != nil {
				tb.Fatalf("client Feed: %v", err)
			}
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

// reconnectingClient returns a lossless client engine whose session is
// open with a stateful server and which has just restarted on a new
// socket: fed the server's banner and frames, it asks for its session back
// with SESSION_RECONNECT.
func reconnectingClient(t *testing.T) (*Engine, *tmsgr) {
	var cm, sm tmsgr
	c := cm.client(gomsgr.LosslessClient(0), &sessSink{})
	c.Start()
	s := sm.server(gomsgr.StatefulServer(0), &sessSink{})
	if err := pump(t, c, s, 1<<20); err != nil || c.State() != StateReady {
		t.Fatalf("handshake: %v, state %v", err, c.State())
	}
	c.Faulted()
	c.Restart(Client, srvAddr)
	c.Start()
	return c, &sm
}

// serverReconnectTranscript returns what a server sends to a reconnecting
// client when it answers SESSION_RETRY, SESSION_RETRY_GLOBAL, a partial
// SESSION_RESET and then opens a new session, plus a message.
func serverReconnectTranscript(t *testing.T) []byte {
	c, sm := reconnectingClient(t)
	s := sm.server(gomsgr.StatefulServer(0), &sessSink{decide: verdicts(t,
		Verdict{Kind: VerdictRetry, Seq: 4}, Verdict{Kind: VerdictRetryGlobal, Seq: 90},
		Verdict{Kind: VerdictReset}, Verdict{Kind: VerdictNew})})
	var sent []byte
	for i := 0; i < 100 && (c.State() != StateReady || len(s.Output()) > 0); i++ {
		if out := c.Output(); len(out) > 0 {
			if _, _, err := s.Feed(out); err != nil {
				t.Fatalf("server Feed: %v", err)
			}
			c.Advance(len(out))
		}
		if out := s.Output(); len(out) > 0 {
			sent = append(sent, out...)
			if _, _, err := c.Feed(out); err != nil {
				t.Fatalf("client Feed: %v", err)
			}
			s.Advance(len(out))
		}
	}
	if c.State() != StateReady {
		t.Fatalf("client in state %v after the transcript", c.State())
	}
	h := msgr2.MsgHeader2{Type: 42}
	s.PrepareMessage(&h)
	var mf msgr2.MessageFrame
	mf.Encode(s.Revision(), &h, []byte("front"), nil, nil)
	return mf.AppendTo(sent)
}

// FuzzClientReconnect feeds arbitrary bytes, as if from the server, to a
// client engine that is reconnecting a lossless session: the answers to
// SESSION_RECONNECT (RECONNECT_OK, RETRY, RETRY_GLOBAL, RESET, WAIT) and
// whatever follows must never panic, and an error closes the engine.
func FuzzClientReconnect(f *testing.F) {
	tr := serverReconnectTranscript(&testing.T{})
	f.Add(tr, uint16(0))
	f.Add(tr, uint16(77))
	f.Add(tr[:len(tr)*2/3], uint16(9))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		c, _ := reconnectingClient(t)
		c.fr.MaxSegmentBytes = 1 << 20
		cut := min(int(split), len(in))
		var buf []byte
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			buf = append(buf, part...)
			n, need, err := c.Feed(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Feed consumed %d of %d bytes", n, len(buf))
			}
			if err != nil {
				if c.State() != StateClosed {
					t.Fatalf("error %v but state %v", err, c.State())
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
