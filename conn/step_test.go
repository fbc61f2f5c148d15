package conn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// TestStepInjection: a server step hook fails the session when the AUTH
// request arrives (the client's connection fails), or freezes it (the ready
// timeout closes it); with no hook hit, sessions work.
func TestStepInjection(t *testing.T) {
	for _, act := range []session.Action{session.Fail, session.Stop} {
		t.Run(map[session.Action]string{session.Fail: "fail", session.Stop: "stop"}[act], func(t *testing.T) {
			leakcheck.Check(t)
			srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 8}, Workers: 1,
				ReadyTimeout: 500 * time.Millisecond,
				Testing: &testhooks.Config{Step: func(r session.Role, s session.Step) session.Action {
					if s == session.StepRecvAuthRequest {
						return act
					}
					return session.Continue
				}}}), gomsgr.StatelessServer(0))
			cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 8}, Workers: 1, ReadyTimeout: 2 * time.Second}),
				gomsgr.LossyClient(0))
			c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
			cc := c.(*conn.Connection)
			waitFor(t, 10*time.Second, "the client's connection to fail", func() bool { return cc.Err() != nil })
			if c.IsConnected() {
				t.Fatal("connected through an injected fault")
			}
			if act == session.Stop && srv.Perf().Total().Get(perf.RecvMessages) != 0 {
				t.Fatal("a message went through a frozen session")
			}
			if act == session.Stop {
				// The frozen server side is closed by its ready timeout.
				waitFor(t, 10*time.Second, "the server's ready timeout", func() bool { return srv.Dump().Faults >= 1 })
			}
			if act == session.Fail && errors.Is(cc.Err(), gomsgr.ErrReadyTimeout) {
				t.Fatalf("an injected Fail should close at once, not by timeout: %v", cc.Err())
			}
		})
	}
}

// TestMissingFeaturesReason: the server tells the client which features it
// lacks (IDENT_MISSING_FEATURES) before it closes, so the client's
// connection fails with that reason rather than a bare EOF.
func TestMissingFeaturesReason(t *testing.T) {
	leakcheck.Check(t)
	srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 5}, Workers: 1}),
		gomsgr.StatelessServer(1<<62))
	cpol := gomsgr.LossyClient(0)
	cpol.FeaturesSupported = 0x3f | 1<<59
	cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 5}, Workers: 1}), cpol)
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	cc := c.(*conn.Connection)
	waitFor(t, 20*time.Second, "the connection to fail", func() bool { return cc.Err() != nil })
	if !errors.Is(cc.Err(), session.ErrMissingFeatures) {
		t.Fatalf("client connection failed with %v, want the server's IDENT_MISSING_FEATURES reason", cc.Err())
	}
}
