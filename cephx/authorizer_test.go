package cephx

import (
	"bytes"
	"errors"
	"testing"
)

var (
	serviceSecret = Key{Type: KeyTypeAES, Secret: [16]byte([]byte("service-secret!!"))}
	sessionKey    = Key{Type: KeyTypeAES, Secret: [16]byte([]byte("session-key-0001"))}
)

func testTicketInfo() ServiceTicketInfo {
	return ServiceTicketInfo{
		Ticket: AuthTicket{
			EntityType: EntityClient, EntityID: "admin", GlobalID: 4242,
			Created: Time{Sec: 100}, Expires: Time{Sec: 3700},
			Caps: AuthCaps{Caps: []byte("allow r")},
		},
		SessionKey: sessionKey,
	}
}

// TestAuthorizerExchange runs the service side and the client side of
// the two authorizer rounds against each other.
func TestAuthorizerExchange(t *testing.T) {
	info := testTicketInfo()
	blob := SealTicket(serviceSecret, 7, info)
	a := Authorizer{GlobalID: 4242, ServiceID: EntityOSD, Ticket: blob, SessionKey: sessionKey, Nonce: 0xabcdef}

	// Round 1: no challenge yet.
	r, err := DecodeAuthorizer(a.Append(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.GlobalID != 4242 || r.ServiceID != EntityOSD || r.Ticket.SecretID != 7 {
		t.Fatalf("request %+v", r)
	}
	got, err := OpenTicket(serviceSecret, r.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if got.Ticket.Name() != "client.admin" || got.Ticket.GlobalID != 4242 || got.SessionKey != sessionKey ||
		string(got.Ticket.Caps.Caps) != "allow r" || got.Ticket.Expires.Sec != 3700 {
		t.Fatalf("ticket info %+v", got)
	}
	az, err := r.Open(got.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	if az.Nonce != 0xabcdef || az.HaveChallenge {
		t.Fatalf("authorize %+v", az)
	}

	// The service challenges; the client answers challenge + 1.
	ch, err := OpenAuthorizeChallenge(sessionKey, AppendAuthorizeChallenge(nil, sessionKey, 99))
	if err != nil || ch != 99 {
		t.Fatalf("challenge %d, %v", ch, err)
	}
	r2, err := DecodeAuthorizer(a.Append(nil, &ch))
	if err != nil {
		t.Fatal(err)
	}
	az2, err := r2.Open(sessionKey)
	if err != nil || !az2.HaveChallenge || az2.ServerChallengePlusOne != 100 || az2.Nonce != a.Nonce {
		t.Fatalf("authorize %+v, %v", az2, err)
	}

	// The reply, with and without a connection secret.
	for _, secret := range [][]byte{nil, bytes.Repeat([]byte{3}, 64)} {
		rep, err := DecodeAuthorizeReply(sessionKey, AuthorizeReply{NoncePlusOne: a.Nonce + 1, ConnectionSecret: secret}.Append(nil, sessionKey))
		if err != nil || rep.NoncePlusOne != a.Nonce+1 || !bytes.Equal(rep.ConnectionSecret, secret) {
			t.Fatalf("reply %+v, %v", rep, err)
		}
	}
}

// TestAuthorizerWrongKeys: a ticket sealed for another secret, or an
// authorizer or reply under another session key, does not open.
func TestAuthorizerWrongKeys(t *testing.T) {
	blob := SealTicket(serviceSecret, 1, testTicketInfo())
	if _, err := OpenTicket(testKey, blob); !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrBadCiphertext) {
		t.Fatalf("ticket under the wrong secret: %v", err)
	}
	a := Authorizer{GlobalID: 1, ServiceID: EntityMgr, Ticket: blob, SessionKey: sessionKey, Nonce: 5}
	r, err := DecodeAuthorizer(a.Append(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(testKey); err == nil {
		t.Fatal("authorize opened under the wrong session key")
	}
	if _, err := OpenAuthorizeChallenge(testKey, AppendAuthorizeChallenge(nil, sessionKey, 1)); err == nil {
		t.Fatal("challenge opened under the wrong key")
	}
	if _, err := DecodeAuthorizeReply(testKey, AuthorizeReply{NoncePlusOne: 6}.Append(nil, sessionKey)); err == nil {
		t.Fatal("reply opened under the wrong key")
	}
	if _, err := DecodeAuthorizer([]byte{AuthModeMon, 0, 0}); !errors.Is(err, ErrDecode) {
		t.Fatalf("a mon request as an authorizer: %v", err)
	}
}

func TestRotatingReply(t *testing.T) {
	want := RotatingSecrets{MaxVer: 12, Keys: []ExpiringKey{
		{ID: 10, Key: testKey, Expiration: Time{Sec: 1}},
		{ID: 11, Key: serviceSecret, Expiration: Time{Sec: 2}},
		{ID: 12, Key: sessionKey, Expiration: Time{Sec: 3}},
	}}
	payload := ResponseHeader{RequestType: GetRotatingKey}.Append(nil)
	payload = EncodeEncrypt(payload, testKey, want.Append)
	got, err := ParseRotatingReply(payload, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxVer != 12 || len(got.Keys) != 3 {
		t.Fatalf("got %+v", got)
	}
	if k, ok := got.Lookup(11); !ok || k != serviceSecret {
		t.Fatalf("Lookup(11) = %v, %v", k, ok)
	}
	if cur, _ := got.Current(); cur.ID != 11 {
		t.Fatalf("current secret %d, want 11 (the second oldest)", cur.ID)
	}
	if _, err := ParseRotatingReply(payload, serviceSecret); err == nil {
		t.Fatal("rotating secrets opened under the wrong key")
	}
	bad := ResponseHeader{RequestType: GetRotatingKey, Status: -13}.Append(nil)
	if _, err := ParseRotatingReply(bad, testKey); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("status -13: %v", err)
	}
}

func TestPrincipalRequestReply(t *testing.T) {
	auth := Authorizer{GlobalID: 9, ServiceID: EntityAuth, Ticket: TicketBlob{SecretID: 2, Blob: []byte("opaque")}, SessionKey: sessionKey, Nonce: 1}
	req := AppendPrincipalRequest(nil, auth, EntityOSD|EntityMgr)
	if req[0] != 0x00 || req[1] != 0x02 || req[2] != AuthModeAuthorizer {
		t.Fatalf("request starts %x", req[:3])
	}
	r, err := DecodeAuthorizer(req[2 : len(req)-5])
	if err != nil || r.GlobalID != 9 || r.ServiceID != EntityAuth {
		t.Fatalf("embedded authorizer %+v, %v", r, err)
	}
	_, extra := testTickets()
	reply := ResponseHeader{RequestType: GetPrincipalSession}.Append(nil)
	reply = AppendServiceTicketReply(reply, sessionKey, extra)
	tickets, rest, err := ParseTicketReply(reply, GetPrincipalSession, sessionKey, nil)
	if err != nil || len(tickets) != len(extra) || len(rest) != 0 {
		t.Fatalf("tickets %d (want %d), rest %d, %v", len(tickets), len(extra), len(rest), err)
	}
	if _, _, err := ParseTicketReply(reply, GetAuthSessionKey, sessionKey, nil); !errors.Is(err, ErrDecode) {
		t.Fatalf("wrong request type: %v", err)
	}
}
