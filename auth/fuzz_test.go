package auth

import (
	"testing"

	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/msgr2"
)

// fuzzKey is client.admin's key in the fuzz targets' keyring.
var fuzzKey = cephx.Key{Type: 1, Secret: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}

func fuzzAuth(t testing.TB) *engineAuth {
	a, err := (&Config{Name: "client.admin", Key: &fuzzKey, Keyring: cephx.Keyring{"client.admin": {Key: fuzzKey}}}).Engine()
	if err != nil {
		t.Fatal(err)
	}
	return a.(*engineAuth)
}

// FuzzCephxServer feeds a server what a hostile client could send as its
// AUTH_REQUEST and AUTH_REQUEST_MORE payloads: it must answer or refuse,
// never panic, and never finish without the client's proof.
func FuzzCephxServer(f *testing.F) {
	f.Add(cephx.MonAuthRequest{EntityType: cephx.EntityClient, EntityID: "admin"}.Append(nil),
		cephx.Authenticate{ClientChallenge: 1, Key: 2}.Append(nil))
	f.Add([]byte{10, 8, 0, 0, 0}, []byte{0, 1})
	a := fuzzAuth(f)
	f.Fuzz(func(t *testing.T, req, more []byte) {
		s := &cephxServer{a: a}
		reply, done, _, err := s.Handle(req, msgr2.ConModeCRC)
		if err != nil {
			return
		}
		if done || len(reply) == 0 {
			t.Fatalf("first request: done %v, %d-byte reply", done, len(reply))
		}
		_, done, res, err := s.Handle(more, msgr2.ConModeSecure)
		if err == nil && (!done || len(res.SessionKey) != cephx.SecretBytes || len(res.Secret) != secretBytes) {
			t.Fatalf("accepted without a full result: done %v, %+v", done, res)
		}
		if err == nil {
			// A random proof matches with probability 2^-64: the fuzzer
			// found the key, or the check is broken.
			t.Fatalf("accepted a proof for challenge %#x: %x", s.challenge, more)
		}
	})
}

// FuzzCephxClient feeds a client what a hostile server could send: its
// AUTH_REPLY_MORE and AUTH_DONE payloads.
func FuzzCephxClient(f *testing.F) {
	f.Add(cephx.ServerChallenge{Challenge: 7}.Append(nil), []byte{0, 1, 0, 0, 0, 0, 0, 0})
	sk := cephx.Key{Type: 1, Secret: [16]byte{9}}
	done, err := cephx.AppendAuthDone(nil, fuzzKey, []cephx.Ticket{{ServiceID: cephx.EntityAuth, SessionKey: sk}}, make([]byte, 64), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cephx.ServerChallenge{Challenge: 7}.Append(nil), done)
	a := fuzzAuth(f)
	f.Fuzz(func(t *testing.T, challenge, payload []byte) {
		c := &cephxClient{a: a, peer: msgr2.EntityMon}
		if _, err := c.More(challenge); err != nil {
			return
		}
		res, err := c.Done(1, msgr2.ConModeSecure, payload)
		if err == nil && (len(res.SessionKey) != cephx.SecretBytes || len(res.Secret) < 40) {
			t.Fatalf("accepted AUTH_DONE without a session key and secret: %+v", res)
		}
	})
}

var fuzzServiceSecret = cephx.Key{Type: 1, Secret: [16]byte{7, 7, 7}}

func fuzzAuthorizer() cephx.Authorizer {
	sk := cephx.Key{Type: 1, Secret: [16]byte{5}}
	info := cephx.ServiceTicketInfo{SessionKey: sk, Ticket: cephx.AuthTicket{EntityType: cephx.EntityClient, EntityID: "admin", GlobalID: 9}}
	return cephx.Authorizer{GlobalID: 9, ServiceID: cephx.EntityOSD, Ticket: cephx.SealTicket(fuzzServiceSecret, 1, info), SessionKey: sk, Nonce: 3}
}

// FuzzAuthorizerServer feeds a service what a hostile client could send
// in authorizer mode: it must never accept an authorizer that does not
// answer its fresh challenge.
func FuzzAuthorizerServer(f *testing.F) {
	az := fuzzAuthorizer()
	c := uint64(1)
	f.Add(az.Append(nil, nil), az.Append(nil, &c))
	f.Add([]byte{1, 0}, []byte{1})
	r := NewRotating()
	r.Set(cephx.EntityOSD, cephx.RotatingSecrets{Keys: []cephx.ExpiringKey{{ID: 1, Key: fuzzServiceSecret}}})
	a, err := (&Config{ServiceSecrets: r}).Engine()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, req, more []byte) {
		s := &cephxServer{a: a.(*engineAuth)}
		reply, done, _, err := s.Handle(req, msgr2.ConModeCRC)
		if err != nil {
			return
		}
		if done || len(reply) == 0 {
			t.Fatalf("first authorizer: done %v, %d-byte reply", done, len(reply))
		}
		if _, _, _, err := s.Handle(more, msgr2.ConModeSecure); err == nil {
			t.Fatalf("accepted an authorizer for a random challenge %#x", s.az.challenge)
		}
	})
}

// FuzzAuthorizerClient feeds a client in authorizer mode what a hostile
// service could send: it must not accept a reply that does not answer
// its nonce.
func FuzzAuthorizerClient(f *testing.F) {
	az := fuzzAuthorizer()
	f.Add(cephx.AppendAuthorizeChallenge(nil, az.SessionKey, 1), cephx.AuthorizeReply{NoncePlusOne: 4}.Append(nil, az.SessionKey))
	f.Fuzz(func(t *testing.T, challenge, payload []byte) {
		c := &authorizerClient{az: az}
		if _, err := c.More(challenge); err != nil {
			return
		}
		r, err := c.Done(1, msgr2.ConModeCRC, payload)
		if err == nil && len(r.SessionKey) != cephx.SecretBytes {
			t.Fatalf("accepted without a session key: %+v", r)
		}
		if err == nil {
			if rep, _ := cephx.DecodeAuthorizeReply(az.SessionKey, payload); rep.NoncePlusOne != az.Nonce+1 {
				t.Fatalf("accepted nonce+1 = %d, want %d", rep.NoncePlusOne, az.Nonce+1)
			}
		}
	})
}
