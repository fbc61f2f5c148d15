package cephx

import (
	"bytes"
	"testing"
)

// Each target checks that a decoder never panics and, where it accepts
// the input, that re-encoding gives back the bytes it consumed. Seeds
// live in testdata/fuzz/<Target>.

func FuzzDecodeKey(f *testing.F) {
	f.Add(testKey.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, n, err := DecodeKey(b)
		if err == nil && !bytes.Equal(k.Append(nil), b[:n]) {
			t.Fatalf("round trip: %x -> %+v", b[:n], k)
		}
	})
}

func FuzzDecodeDecrypt(f *testing.F) {
	f.Add(EncodeEncrypt(nil, testKey, appendBlob))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := DecodeDecrypt(testKey, b)
		if err == nil && (n > len(b) || len(v) > len(b)) {
			t.Fatalf("n = %d, value %d bytes, input %d", n, len(v), len(b))
		}
	})
}

func FuzzDecodeMonAuthRequest(f *testing.F) {
	f.Add(MonAuthRequest{EntityType: EntityClient, EntityID: "admin"}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeMonAuthRequest(b)
		if err == nil && !bytes.Equal(r.Append(nil), b) {
			t.Fatalf("round trip: %x -> %+v", b, r)
		}
	})
}

func FuzzDecodeServerChallenge(f *testing.F) {
	f.Add(ServerChallenge{Challenge: 42}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeServerChallenge(b); err == nil && len(b) != 9 {
			t.Fatalf("accepted %d bytes: %+v", len(b), c)
		}
	})
}

func FuzzDecodeAuthenticate(f *testing.F) {
	f.Add(Authenticate{ClientChallenge: 1, Key: 2, OtherKeys: 0x15}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAuthenticate(b)
		if err == nil && b[2] >= 2 {
			// The decoder ignores the version bytes of CephXAuthenticate
			// (offset 2) and of the old ticket (offset 19), as Ceph does.
			want := bytes.Clone(b)
			want[2], want[19] = 3, 1
			if got := a.Append(nil); !bytes.Equal(got, want) {
				t.Fatalf("round trip: %x -> %x", b, got)
			}
		}
	})
}

func FuzzDecodeResponseHeader(f *testing.F) {
	f.Add(ResponseHeader{RequestType: GetAuthSessionKey}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeResponseHeader(b)
		if err == nil && !bytes.Equal(h.Append(nil), b[:n]) {
			t.Fatalf("round trip: %x -> %+v", b[:n], h)
		}
	})
}

func FuzzDecodeTicketBlob(f *testing.F) {
	f.Add(TicketBlob{SecretID: 1, Blob: []byte("x")}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := DecodeTicketBlob(b)
		if err == nil && !bytes.Equal(tb.Append(nil)[1:], b[1:]) {
			t.Fatalf("round trip: %x -> %+v", b, tb)
		}
	})
}

func FuzzDecodeServiceTicketReply(f *testing.F) {
	auth, extra := testTickets()
	f.Add(AppendServiceTicketReply(nil, testKey, append(auth, extra...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tickets, err := DecodeServiceTicketReply(b, testKey, &testKey)
		if err == nil && len(tickets) > len(b)/minTicketBytes {
			t.Fatalf("%d tickets from %d bytes", len(tickets), len(b))
		}
	})
}

func FuzzDecodeConnectionSecret(f *testing.F) {
	f.Add(AppendConnectionSecret(nil, testKey, bytes.Repeat([]byte{1}, 64))[4:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeConnectionSecret(b, testKey); err == nil && len(s) > len(b) {
			t.Fatalf("secret of %d bytes from %d", len(s), len(b))
		}
	})
}

func FuzzParseAuthDone(f *testing.F) {
	auth, extra := testTickets()
	p, err := AppendAuthDone(nil, testKey, auth, bytes.Repeat([]byte{2}, 64), extra)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p)
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := ParseAuthDone(b, testKey); err == nil && len(d.ConnectionSecret) > len(b) {
			t.Fatalf("secret of %d bytes from %d", len(d.ConnectionSecret), len(b))
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte(sampleKeyring))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseKeyring(b)
	})
}

func FuzzDecodeAuthorizer(f *testing.F) {
	a := Authorizer{GlobalID: 1, ServiceID: EntityOSD, Ticket: SealTicket(serviceSecret, 3, testTicketInfo()), SessionKey: sessionKey, Nonce: 2}
	c := uint64(5)
	f.Add(a.Append(nil, nil))
	f.Add(a.Append(nil, &c))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeAuthorizer(b)
		if err != nil {
			return
		}
		if info, err := OpenTicket(serviceSecret, r.Ticket); err == nil {
			_, _ = r.Open(info.SessionKey)
		}
		_, _ = r.Open(sessionKey)
	})
}

func FuzzOpenAuthorizeChallenge(f *testing.F) {
	f.Add(AppendAuthorizeChallenge(nil, sessionKey, 77))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = OpenAuthorizeChallenge(sessionKey, b)
	})
}

func FuzzDecodeAuthorizeReply(f *testing.F) {
	f.Add(AuthorizeReply{NoncePlusOne: 3}.Append(nil, sessionKey))
	f.Add(AuthorizeReply{NoncePlusOne: 3, ConnectionSecret: bytes.Repeat([]byte{1}, 64)}.Append(nil, sessionKey))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeAuthorizeReply(sessionKey, b); err == nil && len(r.ConnectionSecret) > len(b) {
			t.Fatalf("secret of %d bytes from %d", len(r.ConnectionSecret), len(b))
		}
	})
}

func FuzzParseRotatingReply(f *testing.F) {
	r := RotatingSecrets{MaxVer: 2, Keys: []ExpiringKey{{ID: 1, Key: testKey}, {ID: 2, Key: sessionKey}}}
	f.Add(EncodeEncrypt(ResponseHeader{RequestType: GetRotatingKey}.Append(nil), testKey, r.Append))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := ParseRotatingReply(b, testKey); err == nil && len(got.Keys) > len(b)/minRotatingKeyBytes {
			t.Fatalf("%d secrets from %d bytes", len(got.Keys), len(b))
		}
	})
}

func FuzzParseTicketReply(f *testing.F) {
	_, extra := testTickets()
	f.Add(AppendServiceTicketReply(ResponseHeader{RequestType: GetPrincipalSession}.Append(nil), sessionKey, extra))
	f.Fuzz(func(t *testing.T, b []byte) {
		tickets, rest, err := ParseTicketReply(b, GetPrincipalSession, sessionKey, &sessionKey)
		if err == nil && (len(tickets) > len(b)/minTicketBytes || len(rest) > len(b)) {
			t.Fatalf("%d tickets, %d rest from %d bytes", len(tickets), len(rest), len(b))
		}
	})
}
