package cephx

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMonAuthRequest(t *testing.T) {
	r := MonAuthRequest{EntityType: EntityClient, EntityID: "admin", GlobalID: 0}
	got := r.Append(nil)
	want := []byte{10, 8, 0, 0, 0, 5, 0, 0, 0, 'a', 'd', 'm', 'i', 'n', 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("Append = %x, want %x", got, want)
	}
	back, err := DecodeMonAuthRequest(got)
	if err != nil || back != r {
		t.Fatalf("decode = %+v, %v; want %+v", back, err, r)
	}
	for _, bad := range [][]byte{nil, want[:len(want)-1], append([]byte{1}, want[1:]...), append(want, 0)} {
		if _, err := DecodeMonAuthRequest(bad); !errors.Is(err, ErrDecode) {
			t.Errorf("DecodeMonAuthRequest(%x) err = %v, want ErrDecode", bad, err)
		}
	}
}

func TestServerChallenge(t *testing.T) {
	c := ServerChallenge{Challenge: 0x0102030405060708}
	got := c.Append(nil)
	if want := []byte{1, 8, 7, 6, 5, 4, 3, 2, 1}; !bytes.Equal(got, want) {
		t.Fatalf("Append = %x, want %x", got, want)
	}
	if back, err := DecodeServerChallenge(got); err != nil || back != c {
		t.Fatalf("decode = %+v, %v", back, err)
	}
	if _, err := DecodeServerChallenge(got[:5]); !errors.Is(err, ErrDecode) {
		t.Fatalf("short: err = %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name string
		a    Authenticate
	}{
		{"new client", Authenticate{ClientChallenge: 1, Key: 2, OtherKeys: EntityMon | EntityOSD | EntityMgr}},
		{"renewal", Authenticate{ClientChallenge: 3, Key: 4, OldTicket: TicketBlob{SecretID: 9, Blob: []byte("old")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.a.Append(nil)
			if b[0] != 0x00 || b[1] != 0x01 || b[2] != 3 {
				t.Fatalf("header = %x, want 0001 03", b[:3])
			}
			back, err := DecodeAuthenticate(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.a.OldTicket.Blob) == 0 {
				back.OldTicket.Blob = nil
			}
			if !reflect.DeepEqual(back, tt.a) {
				t.Fatalf("decode = %+v, want %+v", back, tt.a)
			}
			if _, err := DecodeAuthenticate(b[:len(b)-1]); !errors.Is(err, ErrDecode) {
				t.Fatalf("short: err = %v", err)
			}
		})
	}
}

func TestResponseHeader(t *testing.T) {
	h := ResponseHeader{RequestType: GetAuthSessionKey, Status: -13}
	b := h.Append(nil)
	if want := []byte{0, 1, 0xf3, 0xff, 0xff, 0xff}; !bytes.Equal(b, want) {
		t.Fatalf("Append = %x, want %x", b, want)
	}
	back, n, err := DecodeResponseHeader(b)
	if err != nil || n != 6 || back != h {
		t.Fatalf("decode = %+v, %d, %v", back, n, err)
	}
}

func TestTicketBlob(t *testing.T) {
	tb := TicketBlob{SecretID: 7, Blob: []byte{1, 2, 3}}
	b := tb.Append(nil)
	if want := []byte{1, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3}; !bytes.Equal(b, want) {
		t.Fatalf("Append = %x, want %x", b, want)
	}
	back, err := DecodeTicketBlob(b)
	if err != nil || !reflect.DeepEqual(back, tb) {
		t.Fatalf("decode = %+v, %v", back, err)
	}
}

func testTickets() (auth []Ticket, extra []Ticket) {
	sk := Key{Type: KeyTypeAES, Created: Time{Sec: 1700000000, Nsec: 5}, Secret: [16]byte([]byte("session-key-0001"))}
	mk := sk
	mk.Secret[0] = 'S'
	auth = []Ticket{{ServiceID: EntityAuth, SessionKey: sk, Validity: Time{Sec: 43200},
		Blob: TicketBlob{SecretID: 3, Blob: []byte("opaque auth ticket")}}}
	extra = []Ticket{{ServiceID: EntityMon, SessionKey: mk, Validity: Time{Sec: 3600},
		Blob: TicketBlob{SecretID: 4, Blob: []byte("opaque mon ticket")}}}
	return auth, extra
}

func TestParseAuthDone(t *testing.T) {
	auth, extra := testTickets()
	secret := bytes.Repeat([]byte{0xab}, 64)
	tests := []struct {
		name   string
		secret []byte
		extra  []Ticket
	}{
		{"crc mode", nil, nil},
		{"secure mode with extra tickets", secret, extra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := AppendAuthDone(nil, testKey, auth, tt.secret, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			done, err := ParseAuthDone(payload, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if done.SessionKey != auth[0].SessionKey {
				t.Fatalf("session key = %v, want %v", done.SessionKey, auth[0].SessionKey)
			}
			if !bytes.Equal(done.ConnectionSecret, tt.secret) {
				t.Fatalf("connection secret = %x, want %x", done.ConnectionSecret, tt.secret)
			}
			if want := append(append([]Ticket{}, auth...), tt.extra...); !reflect.DeepEqual(done.Tickets, want) {
				t.Fatalf("tickets = %+v, want %+v", done.Tickets, want)
			}
			other := testKey
			other.Secret[15] ^= 0x80
			if _, err := ParseAuthDone(payload, other); !errors.Is(err, ErrBadCiphertext) && !errors.Is(err, ErrBadMagic) {
				t.Fatalf("wrong secret: err = %v", err)
			}
			// Every truncation fails except the one that ends right after
			// the ticket reply, which is what older servers send.
			oldEnd := 6 + len(AppendServiceTicketReply(nil, testKey, auth))
			for i := range len(payload) {
				if _, err := ParseAuthDone(payload[:i], testKey); err == nil && i != oldEnd {
					t.Fatalf("truncated to %d bytes: no error", i)
				}
			}
		})
	}
}

func TestParseAuthDoneOldServer(t *testing.T) {
	auth, _ := testTickets()
	payload := ResponseHeader{RequestType: GetAuthSessionKey}.Append(nil)
	payload = AppendServiceTicketReply(payload, testKey, auth)
	done, err := ParseAuthDone(payload, testKey)
	if err != nil || done.ConnectionSecret != nil || len(done.Tickets) != 1 {
		t.Fatalf("ParseAuthDone = %+v, %v", done, err)
	}
	for i := range len(payload) {
		if _, err := ParseAuthDone(payload[:i], testKey); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
}

func TestParseAuthDoneEmptySecret(t *testing.T) {
	auth, _ := testTickets()
	payload := ResponseHeader{RequestType: GetAuthSessionKey}.Append(nil)
	payload = AppendServiceTicketReply(payload, testKey, auth)
	payload = append(payload, 0, 0, 0, 0, 0, 0, 0, 0) // empty cbl, empty extra_tickets
	done, err := ParseAuthDone(payload, testKey)
	if err != nil || done.ConnectionSecret != nil || len(done.Tickets) != 1 {
		t.Fatalf("ParseAuthDone = %+v, %v", done, err)
	}
}

func TestParseAuthDoneStatus(t *testing.T) {
	payload := ResponseHeader{RequestType: GetAuthSessionKey, Status: -1}.Append(nil)
	if _, err := ParseAuthDone(payload, testKey); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("err = %v, want ErrAuthFailed", err)
	}
}

func TestServiceTicketReplyCountBound(t *testing.T) {
	b := []byte{1, 0xff, 0xff, 0xff, 0xff}
	if _, err := DecodeServiceTicketReply(b, testKey, nil); !errors.Is(err, ErrDecode) {
		t.Fatalf("err = %v, want ErrDecode", err)
	}
}
