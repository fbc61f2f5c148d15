package conn_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Greeting is an application message type: type number 0x4000, a string.
type Greeting struct{ Text string }

func (*Greeting) Type() msgr2.MsgType           { return 0x4000 }
func (*Greeting) Versions() (uint16, uint16)    { return 1, 1 }
func (g *Greeting) AppendFront(b []byte) []byte { return msgr2.AppendString(b, g.Text) }
func (g *Greeting) DecodeFront(_ *msgr2.MsgHeader2, b []byte) error {
	d := msgr2.NewDecoder(b)
	g.Text = d.String()
	return d.Err()
}

// Applications register their message types once, at init time (an
// example may run more than once: go test -count).
func init() {
	check(msgr2.DefaultRegistry.Register(0x4000, "greeting", func() msgr2.Message { return new(Greeting) }))
}

func Example() {
	// Greeting is in msgr2.DefaultRegistry: registered at init time.
	got := make(chan string)
	srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}})
	check(err)
	check(srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		p, _ := m.Decode(nil)
		got <- p.(*Greeting).Text + " from " + m.Src.String()
	})))
	check(srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
	check(srv.Start())
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7}})
	check(err)
	check(cli.Start())
	check(cli.SendTo(gomsgr.Encode(&Greeting{Text: "hello"}), gomsgr.EntityOSD, srv.Addrs()[0]))
	fmt.Println(<-got)
	check(cli.Shutdown(context.Background()))
	check(srv.Shutdown(context.Background()))
	// Output: hello from client.7
}

// A lossless client keeps its session across socket failures: here one
// read or write in ten shuts the socket down, and every message still
// arrives exactly once, in order. A failed connect is retried after a
// backoff (shortened here from Ceph's 0.2 s .. 15 s).
func ExampleInject() {
	inj := testhooks.Inject{SocketFailures: 10}
	got := make(chan uint64, 100)
	srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 2}, Testing: &testhooks.Config{Inject: inj}})
	check(err)
	check(srv.SetDefaultPolicy(gomsgr.StatefulServer(0)))
	check(srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m.Tid; m.Release() })))
	check(srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
	check(srv.Start())
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 8}, Testing: &testhooks.Config{Inject: inj},
		InitialBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	check(err)
	check(cli.SetDefaultPolicy(gomsgr.LosslessClient(0)))
	check(cli.Start())
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	check(err)
	for tid := uint64(1); tid <= 20; tid++ {
		check(c.SendMessage(&gomsgr.Message{Type: 0x4001, Tid: tid}))
	}
	inOrder := true
	for want := uint64(1); want <= 20; want++ {
		inOrder = inOrder && <-got == want
	}
	fmt.Println("20 messages in order:", inOrder)
	check(cli.Shutdown(context.Background()))
	check(srv.Shutdown(context.Background()))
	// Output: 20 messages in order: true
}

// check ends the example on an error: every call in it is expected to
// succeed.
func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
