package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/conn"
)

// Two gomsgr services that require cephx of each other: the server knows
// client.app's key from its keyring, the client proves it holds the key.
func Example() {
	ring, err := cephx.ParseKeyring([]byte("[client.app]\n\tkey = AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==\n"))
	check(err)
	entry, err := ring.Lookup("client.app")
	check(err)

	got := make(chan string)
	srv, err := conn.NewMessenger(conn.Options{
		Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1},
		Auth: &auth.Config{Keyring: ring}, // cephx required of every peer
	})
	check(err)
	check(srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- string(m.Front) })))
	check(srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
	check(srv.Start())

	cli, err := conn.NewMessenger(conn.Options{
		Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7},
		Auth: &auth.Config{Name: "client.app", Key: &entry.Key},
	})
	check(err)
	check(cli.Start())
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	check(err)
	check(c.WaitReady(context.Background()))
	check(c.SendMessage(&gomsgr.Message{Type: 0x4001, Front: []byte("authenticated hello")}))
	fmt.Println(<-got)
	check(cli.Shutdown(context.Background()))
	check(srv.Shutdown(context.Background()))
	// Output: authenticated hello
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
