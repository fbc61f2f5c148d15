package msgrtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/msgr2"
)

// RunAuth runs the authentication scenarios (Ceph's test_msgr AuthTest and
// more): a cephx round trip, a cephx-only server refusing auth none and a
// server allowing both accepting it, a wrong key and an unknown entity
// refused with gomsgr.ErrAuth on both sides, a client falling back to
// the method the server allows, secure mode, and authorizer mode (a
// service accepting a client on a monitor's ticket).
func RunAuth(t *testing.T, newMsgr Factory) {
	tests := []struct {
		name string
		f    func(*testing.T, Factory)
	}{
		{"CephxRoundTrip", testCephxRoundTrip},
		{"NoneRefusedByCephxServer", testNoneRefused},
		{"NoneAcceptedByBoth", testNoneAcceptedByBoth},
		{"WrongKey", testWrongKey},
		{"UnknownEntity", testUnknownEntity},
		{"FallBackToNone", testFallBackToNone},
		{"SecureRoundTrip", testSecureRoundTrip},
		{"SecureRefusedByCRCServer", testSecureRefused},
		{"Authorizer", testAuthorizer(auth.CRC)},
		{"AuthorizerSecure", testAuthorizer(auth.Secure)},
		{"AuthorizerWrongSecret", testAuthorizerWrongSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tc.f(t, newMsgr)
		})
	}
}

// NewKey returns a fresh random AES cephx key.
func NewKey(t testing.TB) cephx.Key {
	t.Helper()
	k := cephx.Key{Type: 1, Created: cephx.Time{Sec: uint32(time.Now().Unix())}}
	if _, err := rand.Read(k.Secret[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// pair is a server and a client messenger with their recorders, and the
// client's connection to the server.
type pair struct {
	srv, cli gomsgr.Messenger
	sr, cr   *recorder
	c        gomsgr.Connection
}

// authPair starts a server with srvAuth and a lossy client with cliAuth,
// connects and waits for the session: it returns them and the WaitReady
// error.
func authPair(t *testing.T, newMsgr Factory, srvAuth, cliAuth *auth.Config) (pair, error) {
	t.Helper()
	var p pair
	p.srv, p.sr = server(t, newMsgr, Config{Auth: srvAuth}, gomsgr.StatelessServer(0))
	p.cli, p.cr = client(t, newMsgr, Config{Auth: cliAuth, ReadyTimeout: 30 * time.Second}, gomsgr.LossyClient(0))
	c, err := p.cli.ConnectTo(gomsgr.EntityOSD, p.srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	p.c = c
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p, c.WaitReady(ctx)
}

// echoOnce sends one message on c and waits for its echo.
func echoOnce(t *testing.T, c gomsgr.Connection, cr *recorder) {
	t.Helper()
	data := payload(3, 9000)
	if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: 1, Front: []byte("auth"), Data: data}); err != nil {
		t.Fatal(err)
	}
	cr.waitFor(t, 10*time.Second, "the echo", func() bool { return len(cr.msgs) == 1 })
	if got := cr.msg(0); string(got.Front) != "auth" || !bytes.Equal(got.Data, data) {
		t.Fatalf("echo differs: front %q, %d data bytes", got.Front, len(got.Data))
	}
}

var (
	secureKeyOnce sync.Once
	secureKey     cephx.Key
)

// secureAuth is the authentication of a messenger that speaks only cephx
// in secure mode, both as a client (client.admin) and as a server.
func secureAuth(t testing.TB) *auth.Config { return CephxAuth(t, auth.Secure) }

// CephxAuth is the authentication of a messenger that speaks only cephx in
// connection mode mode, both as a client (client.admin) and as a server,
// with a key shared by every messenger of the test binary.
func CephxAuth(t testing.TB, mode msgr2.ConMode) *auth.Config {
	secureKeyOnce.Do(func() { secureKey = NewKey(t) })
	k := secureKey
	return &auth.Config{Name: "client.admin", Key: &k, Keyring: keyring("client.admin", k),
		ClientModes: []msgr2.ConMode{mode}, ServiceModes: []msgr2.ConMode{mode}}
}

func keyring(name string, k cephx.Key) cephx.Keyring {
	return cephx.Keyring{name: {Key: k}}
}

// statser is a messenger that reports SessionStats (both of ours).
type statser interface {
	SessionStats() gomsgr.SessionStats
}

// wantAuthFailure checks that the client's err is an auth error and that
// both messengers counted one.
func wantAuthFailure(t *testing.T, srv, cli gomsgr.Messenger, err error) {
	t.Helper()
	if !errors.Is(err, gomsgr.ErrAuth) {
		t.Fatalf("client: %v, want an error wrapping gomsgr.ErrAuth", err)
	}
	wantCounted(t, "client", cli)
	wantCounted(t, "server", srv)
}

func wantCounted(t *testing.T, side string, m gomsgr.Messenger) {
	t.Helper()
	s, ok := m.(statser)
	if !ok {
		t.Fatalf("%T has no SessionStats", m)
	}
	WaitUntil(t, 10*time.Second, side+" counts the auth failure", func() bool { return s.SessionStats().AuthFailures > 0 })
}

func testCephxRoundTrip(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	p, err := authPair(t, newMsgr,
		&auth.Config{Keyring: keyring("client.admin", k)},
		&auth.Config{Name: "client.admin", Key: &k})
	if err != nil {
		t.Fatalf("cephx session: %v", err)
	}
	echoOnce(t, p.c, p.cr)
	// Both sides say how the session is protected; the server knows who
	// its peer proved to be.
	if got := p.c.Security(); got != (gomsgr.Security{Method: "cephx", Mode: "crc"}) {
		t.Fatalf("client's view: %+v", got)
	}
	if got := p.sr.msg(0).Conn.Security(); got != (gomsgr.Security{Method: "cephx", Mode: "crc", Entity: "client.admin"}) {
		t.Fatalf("server's view: %+v", got)
	}
}

func testNoneRefused(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	p, err := authPair(t, newMsgr, &auth.Config{Keyring: keyring("client.admin", k)}, nil)
	wantAuthFailure(t, p.srv, p.cli, err)
}

func testNoneAcceptedByBoth(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	srv := &auth.Config{Keyring: keyring("client.admin", k), ServiceMethods: []msgr2.AuthMethod{auth.Cephx, auth.None}}
	p, err := authPair(t, newMsgr, srv, nil)
	if err != nil {
		t.Fatalf("auth none against a server allowing cephx and none: %v", err)
	}
	echoOnce(t, p.c, p.cr)
}

func testWrongKey(t *testing.T, newMsgr Factory) {
	good, bad := NewKey(t), NewKey(t)
	p, err := authPair(t, newMsgr,
		&auth.Config{Keyring: keyring("client.admin", good)},
		&auth.Config{Name: "client.admin", Key: &bad})
	wantAuthFailure(t, p.srv, p.cli, err)
}

func testUnknownEntity(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	p, err := authPair(t, newMsgr,
		&auth.Config{Keyring: keyring("client.admin", k)},
		&auth.Config{Name: "client.bob", Key: &k})
	wantAuthFailure(t, p.srv, p.cli, err)
}

func testFallBackToNone(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	cli := &auth.Config{Name: "client.admin", Key: &k, ClientMethods: []msgr2.AuthMethod{auth.Cephx, auth.None}}
	p, err := authPair(t, newMsgr, nil, cli)
	if err != nil {
		t.Fatalf("cephx-or-none client against an auth none server: %v", err)
	}
	echoOnce(t, p.c, p.cr)
}

func testSecureRoundTrip(t *testing.T, newMsgr Factory) {
	p, err := authPair(t, newMsgr, secureAuth(t), secureAuth(t))
	if err != nil {
		t.Fatalf("secure session: %v", err)
	}
	echoOnce(t, p.c, p.cr)
	// Large ones too: several records per frame, frames spanning reads.
	for i := range 20 {
		data := payload(i, 70000+i*1000)
		if err := p.c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: uint64(10 + i), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	p.cr.waitFor(t, 20*time.Second, "the echoes", func() bool { return len(p.cr.msgs) == 21 })
	if got := p.sr.msg(0).Conn.Security(); got != (gomsgr.Security{Method: "cephx", Mode: "secure", Entity: "client.admin"}) {
		t.Fatalf("server's view: %+v", got)
	}
	for i, m := range p.cr.all()[1:] {
		if !bytes.Equal(m.Data, payload(i, 70000+i*1000)) {
			t.Fatalf("echo %d differs (%d bytes)", i, len(m.Data))
		}
	}
}

// A client that insists on secure mode is refused by a server that allows
// only crc, with ErrAuth on the client and a counted failure on both.
func testSecureRefused(t *testing.T, newMsgr Factory) {
	k := NewKey(t)
	p, err := authPair(t, newMsgr,
		&auth.Config{Keyring: keyring("client.admin", k), ServiceModes: []msgr2.ConMode{auth.CRC}},
		&auth.Config{Name: "client.admin", Key: &k, ClientModes: []msgr2.ConMode{auth.Secure}})
	wantAuthFailure(t, p.srv, p.cli, err)
}
