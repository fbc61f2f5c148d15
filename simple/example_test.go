package simple_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/simple"
)

// A server answers each message with "pong"; a client sends "ping" and
// waits for the answer.
func Example() {
	const msgPing = 0x7001
	server, err := simple.NewMessenger(simple.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 0}})
	check(err)
	check(server.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	check(server.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		fmt.Printf("server got %q from %v\n", m.Front, m.Src)
		check(m.Conn.SendMessage(&gomsgr.Message{Type: msgPing, Tid: m.Tid, Front: []byte("pong")}))
		m.Release()
	})))
	check(server.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
	check(server.Start())

	client, err := simple.NewMessenger(simple.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4100}})
	check(err)
	check(client.SetDefaultPolicy(gomsgr.LossyClient(0)))
	replies := make(chan string, 1)
	check(client.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		replies <- fmt.Sprintf("client got %q (tid %d) from %v", m.Front, m.Tid, m.Src)
		m.Release()
	})))
	check(client.Start())

	ping := &gomsgr.Message{Type: msgPing, Tid: 1, Front: []byte("ping")}
	check(client.SendTo(ping, gomsgr.EntityOSD, server.Addrs()[0]))
	select {
	case r := <-replies:
		fmt.Println(r)
	case <-time.After(10 * time.Second):
		fmt.Println("no reply")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check(client.Shutdown(ctx))
	check(server.Shutdown(ctx))
	// Output:
	// server got "ping" from client.4100
	// client got "pong" (tid 1) from osd.0
}

// check stops the example on an error.
func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
