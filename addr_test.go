package gomsgr_test

import (
	"net/netip"
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

func TestParseAddr(t *testing.T) {
	cases := []struct {
		in    string
		addr  string
		nonce uint32
		bad   bool
	}{
		{in: "127.0.0.1:6789", addr: "127.0.0.1:6789"},
		{in: "v2:10.0.0.1:3300/0", addr: "10.0.0.1:3300"},
		{in: "v2:10.0.0.1:3300/1234", addr: "10.0.0.1:3300", nonce: 1234},
		{in: "[::1]:3300", addr: "[::1]:3300"},
		{in: "[::ffff:127.0.0.1]:3300", addr: "127.0.0.1:3300"},
		{in: "v1:10.0.0.1:6789/0", bad: true},
		{in: "localhost:3300", bad: true},
		{in: "10.0.0.1", bad: true},
		{in: "10.0.0.1:3300/x", bad: true},
	}
	for _, c := range cases {
		a, err := gomsgr.ParseAddr(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseAddr(%q) = %v, want an error", c.in, a)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddr(%q): %v", c.in, err)
			continue
		}
		if a.Type != msgr2.AddrMsgr2 || a.Addr.String() != c.addr || a.Nonce != c.nonce {
			t.Errorf("ParseAddr(%q) = %v (type %v, nonce %d), want v2 %s nonce %d", c.in, a, a.Type, a.Nonce, c.addr, c.nonce)
		}
	}
}

func TestMsgr2Addr(t *testing.T) {
	a := gomsgr.Msgr2Addr(netip.MustParseAddrPort("127.0.0.1:3300"))
	if a.Type != msgr2.AddrMsgr2 || a.Nonce != 0 || a.Addr.Port() != 3300 {
		t.Fatalf("Msgr2Addr = %+v", a)
	}
}

// FuzzParseAddr: ParseAddr never panics, and what it accepts prints back
// to an address it parses to the same value.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:6789", "v2:10.0.0.1:3300/0", "[::1]:3300", "v1:1.2.3.4:6789/0", "x", "1.2.3.4:99999", "v2:[fe80::1%eth0]:1/4294967295"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := gomsgr.ParseAddr(s)
		if err != nil {
			return
		}
		b, err := gomsgr.ParseAddr(a.Addr.String())
		if err != nil || b.Addr != a.Addr {
			t.Fatalf("ParseAddr(%q) = %v, whose address %q parses to %v, %v", s, a, a.Addr.String(), b, err)
		}
	})
}
