package gomsgr_test

import (
	"fmt"
	"net/netip"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// A typed payload becomes a Message with Encode and comes back with Decode.
func ExampleEncode() {
	m := gomsgr.Encode(&msgr2.MonGetVersion{Handle: 1, What: "osdmap"})
	p, err := m.Decode(nil)
	fmt.Println(m.Type == msgr2.MsgMonGetVersion, p.(*msgr2.MonGetVersion).What, err)
	// Output: true osdmap <nil>
}

// Policies are chosen per peer type from Ceph's presets.
func ExampleLossyClient() {
	p := gomsgr.LossyClient(0)
	fmt.Println(p.Lossy, p.Server)
	// Output: true false
}

// A peer's address comes from "host:port", or from Ceph's spelling with
// the "v2:" prefix and a nonce.
func ExampleParseAddr() {
	a, err := gomsgr.ParseAddr("v2:127.0.0.1:3300/0")
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Addr, a.Nonce)
	// Output: 127.0.0.1:3300 0
}

// Msgr2Addr turns a netip.AddrPort into the address ConnectTo takes.
func ExampleMsgr2Addr() {
	a := gomsgr.Msgr2Addr(netip.MustParseAddrPort("127.0.0.1:6800"))
	fmt.Println(a.Addr.Port(), a.Type == msgr2.AddrMsgr2)
	// Output: 6800 true
}
