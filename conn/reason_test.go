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
)

// TestMissingFeaturesReason: the server tells the client which features it
// lacks (IDENT_MISSING_FEATURES) before it closes, so the client's
// connection fails with that reason rather than a bare EOF.
func TestMissingFeaturesReason(t *testing.T) {
	leakcheck.Check(t)
	srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 5}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pol := gomsgr.StatelessServer(1 << 62)
	srv.SetDefaultPolicy(pol)
	srv.Bind(netip.MustParseAddrPort("127.0.0.1:0"))
	srv.Start()
	cli, _ := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 5}, Workers: 1})
	cpol := gomsgr.LossyClient(0)
	cpol.FeaturesSupported = 0x3f | 1<<59
	cli.SetDefaultPolicy(cpol)
	cli.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer srv.Shutdown(ctx)
	defer cli.Shutdown(ctx)
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	cc := c.(*conn.Connection)
	for cc.Err() == nil {
		if ctx.Err() != nil {
			t.Fatal("the connection did not fail")
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(cc.Err(), session.ErrMissingFeatures) {
		t.Fatalf("client connection failed with %v, want the server's IDENT_MISSING_FEATURES reason", cc.Err())
	}
}
