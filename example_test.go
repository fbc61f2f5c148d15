package gomsgr_test

import (
	"fmt"

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
