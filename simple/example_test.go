package simple_test

import (
	"context"
	"fmt"
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
	if err != nil {
		panic(err)
	}
	server.SetDefaultPolicy(gomsgr.StatelessServer(0))
	server.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		fmt.Printf("server got %q from %v\n", m.Front, m.Src)
		m.Conn.SendMessage(&gomsgr.Message{Type: msgPing, Tid: m.Tid, Front: []byte("pong")})
		m.Release()
	}))
	if err := server.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		panic(err)
	}
	if err := server.Start(); err != nil {
		panic(err)
	}

	client, err := simple.NewMessenger(simple.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4100}})
	if err != nil {
		panic(err)
	}
	client.SetDefaultPolicy(gomsgr.LossyClient(0))
	replies := make(chan string, 1)
	client.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		replies <- fmt.Sprintf("client got %q (tid %d) from %v", m.Front, m.Tid, m.Src)
		m.Release()
	}))
	if err := client.Start(); err != nil {
		panic(err)
	}

	ping := &gomsgr.Message{Type: msgPing, Tid: 1, Front: []byte("ping")}
	if err := client.SendTo(ping, gomsgr.EntityOSD, server.Addrs()[0]); err != nil {
		panic(err)
	}
	select {
	case r := <-replies:
		fmt.Println(r)
	case <-time.After(10 * time.Second):
		fmt.Println("no reply")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client.Shutdown(ctx)
	server.Shutdown(ctx)
	// Output:
	// server got "ping" from client.4100
	// client got "pong" (tid 1) from osd.0
}
