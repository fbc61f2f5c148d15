package conn_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/msgr2"
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
	srv.Bind(netip.MustParseAddrPort("127.0.0.1:0"))
	srv.Start()
	cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7}})
	cli.Start()
	cli.SendTo(gomsgr.Encode(&Greeting{Text: "hello"}), gomsgr.EntityOSD, srv.Addrs()[0])
	fmt.Println(<-got)
	cli.Shutdown(context.Background())
	srv.Shutdown(context.Background())
	// Output: hello from client.7
}
