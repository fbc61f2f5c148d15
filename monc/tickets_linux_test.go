package monc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/monc"
	"github.com/gomsgr/gomsgr/msgr2"
)

// ticketTTL is the mon's ticket lifetime in TestCephxTickets: short, so
// that automatic renewal (due three quarters in) comes within the test.
const ticketTTL = 12 * time.Second

// TestCephxTickets runs the cephx steps that follow authentication against
// a real ceph-mon with short ticket lifetimes: renewing the auth ticket
// and the service tickets over the session (MAuth, asked for and on its
// own before expiry); and authorizer mode with tickets and secrets the mon
// issued: a gomsgr "mgr" service that fetched the mon's rotating MGR
// secrets (as mgr.x) accepts client.admin on the MGR ticket the mon gave
// the client, and on the one a renewal gave it, without knowing the
// client's key.
func TestCephxTickets(t *testing.T) {
	ttl := fmt.Sprint(int(ticketTTL / time.Second))
	mon := cephtest.StartMon(t, cephtest.Cephx(), cephtest.Conf("debug_auth", "20"),
		cephtest.Conf("auth_mon_ticket_ttl", ttl), cephtest.Conf("auth_service_ticket_ttl", ttl))
	kr := mon.KeyringPath()

	t.Run("renew", func(t *testing.T) {
		c := dial(t, mon, monc.Options{Keyring: kr})
		tk := c.Tickets()
		before := tk.Expires(cephx.EntityAuth)
		if before.IsZero() {
			t.Fatal("no auth ticket after the session opened")
		}
		for _, s := range []uint32{cephx.EntityMon, cephx.EntityOSD, cephx.EntityMgr} {
			if _, _, ok := tk.Get(s, time.Now()); !ok {
				t.Fatalf("no ticket for service %#x from the mon's AUTH_DONE", s)
			}
		}
		mgrBefore := tk.Expires(cephx.EntityMgr)
		time.Sleep(10 * time.Millisecond) // a later expiry proves a new ticket
		if err := c.RenewTickets(testCtx(t, 20*time.Second)); err != nil {
			t.Fatalf("RenewTickets: %v\nmon log:\n%s", err, mon.LogTail(30))
		}
		if after := tk.Expires(cephx.EntityAuth); !after.After(before) {
			t.Fatalf("auth ticket expires %v after renewal, %v before", after, before)
		}
		if after := tk.Expires(cephx.EntityMgr); !after.After(mgrBefore) {
			t.Fatalf("MGR ticket expires %v after renewal, %v before: service tickets not renewed", after, mgrBefore)
		}
		mustOK(t, c, `{"prefix": "version"}`)
		// On its own: the renewal is due at 3/4 of the TTL.
		n := c.Stats().Renewals
		deadline := time.Now().Add(2 * ticketTTL)
		for c.Stats().Renewals == n {
			if time.Now().After(deadline) {
				t.Fatalf("no automatic renewal within %v", 2*ticketTTL)
			}
			time.Sleep(50 * time.Millisecond)
		}
		mustOK(t, c, `{"prefix": "version"}`)
	})

	t.Run("authorizer", func(t *testing.T) {
		mgrKeyring := filepath.Join(t.TempDir(), "mgr.keyring")
		ceph(t, mon, "-k", kr, "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "-o", mgrKeyring)
		daemon := dial(t, mon, monc.Options{Name: "mgr.x", Keyring: mgrKeyring})
		rot := daemon.Rotating()
		waitFor(t, "the mon's rotating MGR secrets", func() bool { _, ok := rot.Current(cephx.EntityMgr); return ok })

		got := make(chan gomsgr.Security, 4)
		svc := startService(t, &auth.Config{ServiceSecrets: rot}, got)

		admin := dial(t, mon, monc.Options{Keyring: kr})
		k, _, err := monc.FindKey(kr, "client.admin")
		if err != nil {
			t.Fatal(err)
		}
		cli := startClient(t, &auth.Config{Name: "client.admin", Key: &k, Tickets: admin.Tickets()})
		roundTrip(t, cli, svc, got)
		if err := admin.RenewTickets(testCtx(t, 20*time.Second)); err != nil {
			t.Fatalf("RenewTickets: %v", err)
		}
		roundTrip(t, cli, svc, got) // a new connection, on the renewed MGR ticket
	})
}

// startService starts a messenger of type mgr that echoes a
// connection's Security for each message it receives.
func startService(t *testing.T, a *auth.Config, got chan<- gomsgr.Security) *conn.Messenger {
	t.Helper()
	m, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityMgr}, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	must(t, m.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	must(t, m.AddDispatcher(gomsgr.DispatcherFunc(func(msg *gomsgr.Message) {
		got <- msg.Conn.Security()
		msg.Release()
	})))
	must(t, m.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")))
	must(t, m.Start())
	t.Cleanup(func() { must(t, m.Shutdown(context.Background())) })
	return m
}

func startClient(t *testing.T, a *auth.Config) *conn.Messenger {
	t.Helper()
	return startClientWith(t, a, func(m *gomsgr.Message) { m.Release() })
}

func startClientWith(t *testing.T, a *auth.Config, handle func(*gomsgr.Message)) *conn.Messenger {
	t.Helper()
	m, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 77}, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	must(t, m.SetDefaultPolicy(gomsgr.LossyClient(0)))
	must(t, m.AddDispatcher(gomsgr.DispatcherFunc(handle)))
	must(t, m.Start())
	t.Cleanup(func() { must(t, m.Shutdown(context.Background())) })
	return m
}

// roundTrip opens a new connection from cli to svc and checks that the
// service saw client.admin over cephx.
func roundTrip(t *testing.T, cli, svc *conn.Messenger, got <-chan gomsgr.Security) {
	t.Helper()
	cli.MarkDownAll()
	c, err := cli.ConnectTo(gomsgr.EntityMgr, svc.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(testCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("session on the mon's MGR ticket: %v", err)
	}
	must(t, c.SendMessage(&gomsgr.Message{Type: 0x4001, Front: []byte("hello")}))
	select {
	case s := <-got:
		if s != (gomsgr.Security{Method: "cephx", Mode: msgr2.ConModeCRC.String(), Entity: "client.admin"}) {
			t.Fatalf("service's view of the session: %+v", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the message did not arrive")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOSDCommand reaches a real ceph-osd in authorizer mode, in crc and
// in secure mode: client.admin authenticates with the mon through monc,
// then a gomsgr messenger sharing its tickets connects to the OSD with
// the mon's OSD ticket (the OSD checks it with its rotating secrets and
// answers the challenge) and sends `tell osd.N version` as an MCommand;
// the OSD's reply carries its version.
func TestOSDCommand(t *testing.T) {
	// The OSD reads the mon's ceph.conf: let it accept secure mode too.
	mon := cephtest.StartMon(t, cephtest.Cephx(), cephtest.Conf("ms_service_mode", "crc secure"))
	osd := cephtest.StartOSD(t, mon)
	kr := mon.KeyringPath()
	want := strings.TrimSpace(string(ceph(t, mon, "tell", fmt.Sprintf("osd.%d", osd.ID), "version")))
	admin := dial(t, mon, monc.Options{Keyring: kr})
	fsid, _ := admin.FSID()
	k, _, err := monc.FindKey(kr, "client.admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("TellOSD", func(t *testing.T) {
		for range 2 { // the second reuses the connection
			r, err := admin.TellOSD(testCtx(t, 20*time.Second), osd.ID, `{"prefix": "version"}`)
			if err != nil || r.Rc != 0 {
				t.Fatalf("TellOSD: %+v, %v", r, err)
			}
			if v := jsonField(t, r.Output, "version"); !strings.Contains(want, v) {
				t.Fatalf("osd says %s, the ceph CLI %s", v, want)
			}
		}
		r, err := admin.TellOSD(testCtx(t, 20*time.Second), osd.ID, `{"prefix": "no such command"}`)
		if err != nil || r.Rc >= 0 {
			t.Fatalf("an unknown command: %+v, %v; want a negative rc", r, err)
		}
		if _, err := admin.TellOSD(testCtx(t, 20*time.Second), osd.ID+7, `{"prefix": "version"}`); err == nil {
			t.Fatal("TellOSD to an OSD that does not exist succeeded")
		}
	})
	for _, mode := range []msgr2.ConMode{msgr2.ConModeCRC, msgr2.ConModeSecure} {
		t.Run(mode.String(), func(t *testing.T) {
			replies := make(chan *msgr2.CommandReply, 1)
			cli := startClientWith(t, &auth.Config{Name: "client.admin", Key: &k, Tickets: admin.Tickets(),
				ClientModes: []msgr2.ConMode{mode}}, func(m *gomsgr.Message) {
				if p, err := m.Decode(nil); err == nil {
					if r, ok := p.(*msgr2.CommandReply); ok {
						r.Output = append([]byte(nil), r.Output...)
						replies <- r
					}
				}
				m.Release()
			})
			addr := gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: netip.MustParseAddrPort(osd.V2Addr), Nonce: osd.Nonce}
			c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WaitReady(testCtx(t, 20*time.Second)); err != nil {
				t.Fatalf("session with osd.%d: %v", osd.ID, err)
			}
			if got := c.Security(); got.Method != "cephx" || got.Mode != mode.String() {
				t.Fatalf("session security %+v", got)
			}
			m := gomsgr.Encode(&msgr2.Command{FSID: fsid, Cmd: []string{`{"prefix": "version"}`}})
			m.Tid = 1
			must(t, c.SendMessage(m))
			select {
			case r := <-replies:
				if r.Result != 0 || !strings.Contains(string(r.Output), `"version"`) {
					t.Fatalf("reply %d %q: %s", r.Result, r.Status, r.Output)
				}
				if !strings.Contains(want, jsonField(t, r.Output, "version")) {
					t.Fatalf("osd says %s, the ceph CLI %s", r.Output, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no reply from the OSD")
			}
		})
	}
}

func jsonField(t *testing.T, b []byte, k string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	s, _ := m[k].(string)
	if s == "" {
		t.Fatalf("no %q in %s", k, b)
	}
	return s
}
