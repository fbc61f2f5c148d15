package conn_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// TestSendOnStoppedWorker: a message sent to a connection whose worker no
// longer runs is refused with the cause (the center is closed), not
// reported sent and left in a queue nobody writes.
func TestSendOnStoppedWorker(t *testing.T) {
	leakcheck.Check(t)
	stack, err := center.NewStack(center.StackConfig{Name: "stopped", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 4}})
	srv.SetDefaultPolicy(gomsgr.StatelessServer(0))
	if err := srv.Bind(ctx, netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4}, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	err = c.SendMessage(&gomsgr.Message{Type: 0x7001})
	if !errors.Is(err, center.ErrClosed) {
		t.Fatalf("SendMessage with the worker stopped: %v, want center.ErrClosed", err)
	}
	if err := cli.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReleasedMessageSendPanicsUnderRace: sending a message that was
// released (and may be another message already) panics in race builds.
func TestReleasedMessageSendPanicsUnderRace(t *testing.T) {
	if !raceEnabled {
		t.Skip("the poison check is on in race builds only")
	}
	srv := newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 5}})
	srv.SetDefaultPolicy(gomsgr.StatelessServer(0))
	if err := srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := srv.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0]) // loopback
	if err != nil {
		t.Fatal(err)
	}
	m := gomsgr.NewMessage(0x7001)
	m.Release()
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("SendMessage of a released message did not panic under -race")
		}
	}()
	_ = c.SendMessage(m)
}
