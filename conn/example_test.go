package conn_test

import (
	"context"
	"fmt"
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

func Example() {
	msgr2.DefaultRegistry.Register(0x4000, "greeting", func() msgr2.Message { return new(Greeting) })
	got := make(chan string)
	srv, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}})
	srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		p, _ := m.Decode(nil)
		got <- p.(*Greeting).Text + " from " + m.Src.String()
	}))
	srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
	srv.Start()
	cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7}})
	cli.Start()
	cli.SendTo(gomsgr.Encode(&Greeting{Text: "hello"}), gomsgr.EntityOSD, srv.Addrs()[0])
	fmt.Println(<-got)
	cli.Shutdown(context.Background())
	srv.Shutdown(context.Background())
	// Output: hello from client.7
}

// A lossless client keeps its session across socket failures: here one
// read or write in ten shuts the socket down, and every message still
// arrives exactly once, in order. A failed connect is retried after a
// backoff (shortened here from Ceph's 0.2 s .. 15 s).
func ExampleInject() {
	inj := testhooks.Inject{SocketFailures: 10}
	got := make(chan uint64, 100)
	srv, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 2}, Testing: &testhooks.Config{Inject: inj}})
	srv.SetDefaultPolicy(gomsgr.StatefulServer(0))
	srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m.Tid; m.Release() }))
	srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
	srv.Start()
	cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 8}, Testing: &testhooks.Config{Inject: inj},
		InitialBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	cli.SetDefaultPolicy(gomsgr.LosslessClient(0))
	cli.Start()
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	for tid := uint64(1); tid <= 20; tid++ {
		c.SendMessage(&gomsgr.Message{Type: 0x4001, Tid: tid})
	}
	inOrder := true
	for want := uint64(1); want <= 20; want++ {
		inOrder = inOrder && <-got == want
	}
	fmt.Println("20 messages in order:", inOrder)
	cli.Shutdown(context.Background())
	srv.Shutdown(context.Background())
	// Output: 20 messages in order: true
}
