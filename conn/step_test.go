package conn_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/perf"
)

// TestStepInjection: a server step hook fails the session when the AUTH
// request arrives (the client's connection fails), or freezes it (the ready
// timeout closes it); with no hook hit, sessions work.
func TestStepInjection(t *testing.T) {
	for _, act := range []session.Action{session.Fail, session.Stop} {
		t.Run(map[session.Action]string{session.Fail: "fail", session.Stop: "stop"}[act], func(t *testing.T) {
			leakcheck.Check(t)
			srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 8}, Workers: 1,
				ReadyTimeout: 500 * time.Millisecond,
				Step: func(r session.Role, s session.Step) session.Action {
					if s == session.StepRecvAuthRequest {
						return act
					}
					return session.Continue
				}})
			if err != nil {
				t.Fatal(err)
			}
			srv.SetDefaultPolicy(gomsgr.StatelessServer(0))
			srv.Bind(netip.MustParseAddrPort("127.0.0.1:0"))
			srv.Start()
			cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 8}, Workers: 1, ReadyTimeout: 2 * time.Second})
			cli.SetDefaultPolicy(gomsgr.LossyClient(0))
			cli.Start()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			defer srv.Shutdown(ctx)
			defer cli.Shutdown(ctx)
			c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
			cc := c.(*conn.Connection)
			waitUntil(t, func() bool { return cc.Err() != nil }, "the client's connection to fail")
			if c.IsConnected() {
				t.Fatal("connected through an injected fault")
			}
			if act == session.Stop && srv.Perf().Total().Get(perf.RecvMessages) != 0 {
				t.Fatal("a message went through a frozen session")
			}
			if act == session.Stop {
				// The frozen server side is closed by its ready timeout.
				waitUntil(t, func() bool { return srv.Dump().Faults >= 1 }, "the server's ready timeout")
			}
			if act == session.Fail && errors.Is(cc.Err(), conn.ErrReadyTimeout) {
				t.Fatalf("an injected Fail should close at once, not by timeout: %v", cc.Err())
			}
		})
	}
}
