package msgrtest

import (
	"context"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/msgr2"
)

// Authorizer mode between gomsgr messengers: a monitor-like messenger
// (a keyring, and the rotating secrets of the OSD service) authenticates
// the client and issues it a ticket for OSDs; an OSD-like messenger that
// has no keyring at all, only the OSD secrets, accepts the client on that
// ticket.

// rotating returns three rotating secrets (previous, current, next).
func rotating(t testing.TB) *auth.Rotating {
	r := auth.NewRotating()
	var s cephx.RotatingSecrets
	for id := uint64(1); id <= 3; id++ {
		s.Keys = append(s.Keys, cephx.ExpiringKey{ID: id, Key: NewKey(t), Expiration: cephx.Time{Sec: uint32(time.Now().Add(time.Hour).Unix())}})
	}
	s.MaxVer = 3
	r.Set(cephx.EntityOSD, s)
	return r
}

// authorizerTrio starts a monitor-like server, an OSD-like service with
// the secrets svc, and a client with its own ticket store; the client
// authenticates with the monitor and then connects to the service, with
// mode for both. It returns the service connection's WaitReady error.
func authorizerTrio(t *testing.T, newMsgr Factory, mode msgr2.ConMode, svc *auth.Rotating) (pair, *auth.Tickets, error) {
	t.Helper()
	k := NewKey(t)
	rot := rotating(t)
	if svc == nil {
		svc = rot
	}
	modes := []msgr2.ConMode{mode}
	ring := cephx.Keyring{"client.admin": {Key: k, Caps: map[string]string{"osd": "allow *"}}}
	mon, _ := server(t, newMsgr, Config{Name: gomsgr.EntityName{Type: gomsgr.EntityMon}, Auth: &auth.Config{
		Keyring: ring, ServiceSecrets: rot, ServiceModes: modes,
	}}, gomsgr.StatelessServer(0))
	var p pair
	p.srv, p.sr = server(t, newMsgr, Config{Auth: &auth.Config{ServiceSecrets: svc, ServiceModes: modes}}, gomsgr.StatelessServer(0))
	tickets := auth.NewTickets()
	p.cli, p.cr = client(t, newMsgr, Config{ReadyTimeout: 30 * time.Second, Auth: &auth.Config{
		Name: "client.admin", Key: &k, Tickets: tickets, ClientModes: modes, MonClientModes: modes,
	}}, gomsgr.LossyClient(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mc, err := p.cli.ConnectTo(gomsgr.EntityMon, mon.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.WaitReady(ctx); err != nil {
		t.Fatalf("authenticating with the monitor: %v", err)
	}
	if _, _, ok := tickets.Get(cephx.EntityOSD, time.Now()); !ok {
		t.Fatal("the monitor issued no OSD ticket")
	}
	if p.c, err = p.cli.ConnectTo(gomsgr.EntityOSD, p.srv.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	return p, tickets, p.c.WaitReady(ctx)
}

func testAuthorizer(mode msgr2.ConMode) func(*testing.T, Factory) {
	return func(t *testing.T, newMsgr Factory) {
		p, tickets, err := authorizerTrio(t, newMsgr, mode, nil)
		if err != nil {
			t.Fatalf("session on the monitor's ticket: %v", err)
		}
		echoOnce(t, p.c, p.cr)
		want := gomsgr.Security{Method: "cephx", Mode: mode.String(), Entity: "client.admin"}
		if got := p.sr.msg(0).Conn.Security(); got != want {
			t.Fatalf("service's view: %+v, want %+v", got, want)
		}
		if tickets.GlobalID() == 0 {
			t.Fatal("no global id from the monitor")
		}
	}
}

// A service whose secrets are not the ones the monitor sealed the ticket
// with refuses it: ErrAuth on the client, counted on both.
func testAuthorizerWrongSecret(t *testing.T, newMsgr Factory) {
	p, _, err := authorizerTrio(t, newMsgr, auth.CRC, rotating(t))
	wantAuthFailure(t, p.srv, p.cli, err)
}
