package msgrtest

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// testBadInput sends hostile bytes over raw TCP. Each connection must be
// closed by the server (the read sees EOF or a reset), within a bound, and
// the server must keep serving a well-behaved client afterwards.
func testBadInput(t *testing.T, newMsgr Factory) {
	srv, _ := server(t, newMsgr, Config{ReadyTimeout: 2 * time.Second}, gomsgr.StatelessServer(0))
	addr := srv.Addrs()[0].Addr.String()
	banner := msgr2.AppendBanner(nil, msgr2.LocalBanner)
	hello := msgr2.AppendControl(nil, msgr2.Rev1, &msgr2.Hello{EntityType: msgr2.EntityClient})
	msg := func() []byte {
		var mf msgr2.MessageFrame
		h := msgr2.MsgHeader2{Seq: 1, Type: MsgTest}
		mf.Encode(msgr2.Rev1, &h, []byte("x"), nil, nil)
		return mf.AppendTo(nil)
	}()
	badCRC := append([]byte(nil), hello...)
	badCRC[len(badCRC)-1] ^= 0x55
	huge := func() []byte {
		p := msgr2.Preamble{Tag: msgr2.TagMessage, NumSegments: 1}
		p.Segments[0].Len = 0xffffffff // 4 GiB
		return msgr2.AppendPreamble(nil, &p)
	}()
	unknownTag := func() []byte {
		p := msgr2.Preamble{Tag: 0x7f, NumSegments: 1}
		p.Segments[0].Len = 4
		return append(msgr2.AppendPreamble(nil, &p), 1, 2, 3, 4, 0, 0, 0, 0)
	}()
	cases := []struct {
		name string
		in   []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: ceph\r\n\r\n")},
		{"v1 banner", []byte("ceph v027\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		{"wrong peer type for the server", concat(banner, msgr2.AppendControl(nil, msgr2.Rev1, &msgr2.Hello{EntityType: 0x77}),
			msgr2.AppendControl(nil, msgr2.Rev1, &msgr2.AuthRequest{Method: msgr2.AuthCephx, PreferredModes: []msgr2.ConMode{msgr2.ConModeSecure}}))},
		{"bad crc", concat(banner, badCRC)},
		{"4 GiB segment", concat(banner, huge)},
		{"unknown tag", concat(banner, unknownTag)},
		{"1 MiB frame before the handshake", concat(banner, func() []byte {
			p := msgr2.Preamble{Tag: msgr2.TagHello, NumSegments: 1}
			p.Segments[0].Len = 1 << 20
			return msgr2.AppendPreamble(nil, &p)
		}())},
		{"message before the handshake", concat(banner, hello, msg)},
		{"truncated frame then silence", concat(banner, hello[:20])},
		{"nothing at all", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn(t, c)
			if len(tc.in) > 0 {
				if _, err := c.Write(tc.in); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			// Drain whatever the server says (its banner, HELLO, maybe an
			// error frame) until it closes the connection.
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept a connection with bad input (%s) open for 15s", tc.name)
			}
		})
	}
	t.Run("slow sender", func(t *testing.T) {
		// One byte per 100ms: the ready timeout (2s) must close it.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer closeConn(t, c)
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			// Until the server closes it: EOF, or an error such as a
			// reset, ends the copy either way.
			_, _ = io.Copy(io.Discard, c)
			close(closed)
		}()
		for i := 0; ; i++ {
			select {
			case <-closed:
				if time.Since(start) < time.Second {
					t.Fatalf("slow sender closed after %v, before the ready timeout", time.Since(start))
				}
				return
			case <-time.After(100 * time.Millisecond):
			}
			if i < len(banner) {
				// A failed write means the server closed the connection;
				// the closed case above sees it next turn.
				_, _ = c.Write(banner[i : i+1])
			}
			if time.Since(start) > 15*time.Second {
				t.Fatal("slow sender still connected after 15s")
			}
		}
	})
	// The server still serves a real client.
	cli, cr := client(t, newMsgr, Config{}, gomsgr.LossyClient(0))
	if err := cli.SendTo(&gomsgr.Message{Type: MsgTest, Front: []byte("ok")}, gomsgr.EntityOSD, srv.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "an echo after the bad input", func() bool { return len(cr.msgs) == 1 })
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// closeConn closes a test's own end of a connection; that fails only on a
// bug (a double close), whatever the server did to its end.
func closeConn(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
