package auth

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
)

// TestRenewRequests checks the order of renewals and that the answers
// are stored: nothing is due right after authentication; a forced
// renewal asks for the auth ticket first (with the old ticket and the
// exchange's challenge), then for the service tickets (an authorizer
// for the auth service), whose answer fills the store.
func TestRenewRequests(t *testing.T) {
	now := time.Now()
	authKey := cephx.Key{Type: 1, Secret: [16]byte{4}}
	s := NewTickets()
	s.Set(77, now, []cephx.Ticket{{ServiceID: cephx.EntityAuth, SessionKey: authKey,
		Validity: cephx.Time{Sec: 3600}, Blob: cephx.TicketBlob{SecretID: 2, Blob: []byte("old")}}})
	s.setExchange(0x1234)
	req, err := s.RenewRequest(fuzzKey, cephx.EntityAuth, now, 0)
	if err != nil || req != nil {
		t.Fatalf("a fresh ticket is not due: %x, %v", req, err)
	}
	req, err = s.RenewRequest(fuzzKey, WantKeys, now, WantKeys|cephx.EntityAuth)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cephx.DecodeAuthenticate(req)
	if err != nil {
		t.Fatalf("the first request is not an auth renewal: %v", err)
	}
	if string(a.OldTicket.Blob) != "old" || a.Key != cephx.ChallengeKey(fuzzKey, 0x1234, a.ClientChallenge) || a.OtherKeys != WantKeys {
		t.Fatalf("renewal %+v", a)
	}
	req, err = s.RenewRequest(fuzzKey, WantKeys, now, WantKeys)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(req) != cephx.GetPrincipalSession {
		t.Fatalf("the service tickets' request has type %#x", binary.LittleEndian.Uint16(req))
	}
	r, err := cephx.DecodeAuthorizer(req[2 : len(req)-5])
	if err != nil || r.GlobalID != 77 || r.ServiceID != cephx.EntityAuth {
		t.Fatalf("its authorizer: %+v, %v", r, err)
	}
	osd := cephx.Ticket{ServiceID: cephx.EntityOSD, SessionKey: cephx.Key{Type: 1, Secret: [16]byte{9}},
		Validity: cephx.Time{Sec: 60}, Blob: cephx.TicketBlob{SecretID: 5, Blob: []byte("osd")}}
	reply := cephx.ResponseHeader{RequestType: cephx.GetPrincipalSession}.Append(nil)
	reply = cephx.AppendServiceTicketReply(reply, authKey, []cephx.Ticket{osd})
	if err := s.HandleReply(fuzzKey, reply, now); err != nil {
		t.Fatal(err)
	}
	got, gid, ok := s.Get(cephx.EntityOSD, now)
	if !ok || gid != 77 || string(got.Blob.Blob) != "osd" {
		t.Fatalf("the OSD ticket: %+v (gid %d, %v)", got, gid, ok)
	}
	if _, _, ok := s.Get(cephx.EntityOSD, now.Add(61*time.Second)); ok {
		t.Fatal("an expired ticket is still handed out")
	}
	if need, _ := s.Need(cephx.EntityOSD, now.Add(46*time.Second)); need != cephx.EntityOSD {
		t.Fatalf("the OSD ticket is not due three quarters into its validity: need %#x", need)
	}
}
