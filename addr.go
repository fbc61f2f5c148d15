package gomsgr

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Msgr2Addr returns the msgr2 address of ap with nonce 0 (any instance of
// the peer): what ConnectTo and SendTo take to reach a peer listening on
// ap.
func Msgr2Addr(ap netip.AddrPort) EntityAddr {
	return EntityAddr{Type: msgr2.AddrMsgr2, Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// ParseAddr parses "host:port" (an IP address, "[v6]:port" for IPv6) into
// a msgr2 address, as Msgr2Addr. It also takes Ceph's spelling of an
// address, an optional "v2:" prefix and "/nonce" suffix
// ("v2:10.0.0.1:3300/0"); a "v1:" address is refused, since gomsgr speaks
// msgr2 only.
func ParseAddr(s string) (EntityAddr, error) {
	rest := s
	if strings.HasPrefix(rest, "v1:") {
		return EntityAddr{}, fmt.Errorf("gomsgr: parse address %q: msgr1 (v1:) addresses are not supported", s)
	}
	rest = strings.TrimPrefix(rest, "v2:")
	var nonce uint32
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		n, err := strconv.ParseUint(rest[i+1:], 10, 32)
		if err != nil {
			return EntityAddr{}, fmt.Errorf("gomsgr: parse address %q: bad nonce: %w", s, err)
		}
		nonce, rest = uint32(n), rest[:i]
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return EntityAddr{}, fmt.Errorf("gomsgr: parse address %q: %w", s, err)
	}
	a := Msgr2Addr(ap)
	a.Nonce = nonce
	return a, nil
}
