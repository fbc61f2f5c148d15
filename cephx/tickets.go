package cephx

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// minTicketBytes is the smallest encoding of one ticket in a service
// ticket reply (u32 service id, u8 v, two u32-prefixed blobs, u8 flag);
// it bounds the ticket count by the input size.
const minTicketBytes = 4 + 1 + 4 + 1 + 4

// Ticket is one entry of a service-ticket reply: the session key for a
// service, how long it is valid, and the ticket to present to it.
type Ticket struct {
	ServiceID  uint32 // an Entity* constant
	SessionKey Key
	// Validity is the ticket's lifetime (a utime_t duration).
	Validity Time
	Blob     TicketBlob
}

// AppendServiceTicketReply appends a service-ticket reply to dst, as
// cephx_build_service_ticket_reply does for a new session: u8 1, u32 n,
// then per ticket u32 service id, u8 1, encode_encrypt(CephXServiceTicket
// {u8 1, session key, validity}) under principal, u8 0 (ticket not
// encrypted) and the ticket blob in a bufferlist.
func AppendServiceTicketReply(dst []byte, principal Key, tickets []Ticket) []byte {
	dst = msgr2.AppendU8(dst, 1)
	dst = msgr2.AppendU32(dst, uint32(len(tickets)))
	for _, t := range tickets {
		dst = msgr2.AppendU32(dst, t.ServiceID)
		dst = msgr2.AppendU8(dst, 1)
		dst = EncodeEncrypt(dst, principal, func(b []byte) []byte {
			b = msgr2.AppendU8(b, 1)
			b = t.SessionKey.Append(b)
			return appendTime(b, t.Validity)
		})
		dst = msgr2.AppendU8(dst, 0)
		dst = msgr2.AppendBytes(dst, t.Blob.Append(nil))
	}
	return dst
}

// decodeServiceTicketReply mirrors CephXTicketManager::
// verify_service_ticket_reply: principal decrypts each CephXServiceTicket,
// ticketKey (the previous session key, if any) each encrypted ticket.
func decodeServiceTicketReply(d *msgr2.Decoder, principal Key, ticketKey *Key) ([]Ticket, error) {
	d.U8() // struct_v
	n := d.U32()
	if err := d.Err(); err != nil {
		return nil, decodeErr("service ticket reply", err)
	}
	if uint64(n) > uint64(d.Remaining()/minTicketBytes) {
		return nil, fmt.Errorf("%w: %d tickets in %d bytes", ErrDecode, n, d.Remaining())
	}
	tickets := make([]Ticket, 0, n)
	for range n {
		t, err := decodeTicket(d, principal, ticketKey)
		if err != nil {
			return nil, err
		}
		tickets = append(tickets, t)
	}
	return tickets, nil
}

func decodeTicket(d *msgr2.Decoder, principal Key, ticketKey *Key) (Ticket, error) {
	var t Ticket
	t.ServiceID = d.U32()
	d.U8() // service_ticket_v
	ct := d.Bytes()
	if err := d.Err(); err != nil {
		return Ticket{}, decodeErr("service ticket", err)
	}
	plain, err := openEnvelope(principal, ct)
	if err != nil {
		return Ticket{}, fmt.Errorf("service %#x ticket: %w", t.ServiceID, err)
	}
	sd := msgr2.NewDecoder(plain)
	sd.U8() // CephXServiceTicket struct_v
	t.SessionKey = decodeKey(sd)
	t.Validity = decodeTime(sd)
	if err := sd.Err(); err != nil {
		return Ticket{}, decodeErr("service ticket", err)
	}
	encrypted := d.Bool()
	blob := d.Bytes()
	if err := d.Err(); err != nil {
		return Ticket{}, decodeErr("ticket blob", err)
	}
	if encrypted {
		if ticketKey == nil {
			return Ticket{}, fmt.Errorf("%w: encrypted ticket and no previous session key", ErrDecode)
		}
		inner, err := openEnvelope(*ticketKey, blob)
		if err != nil {
			return Ticket{}, fmt.Errorf("service %#x ticket blob: %w", t.ServiceID, err)
		}
		id := msgr2.NewDecoder(inner)
		blob = id.Bytes()
		if err := id.Err(); err != nil {
			return Ticket{}, decodeErr("ticket blob", err)
		}
	}
	t.Blob, err = DecodeTicketBlob(blob)
	if err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// DecodeServiceTicketReply decodes a whole service-ticket reply whose
// service tickets are encrypted under principal and whose ticket blobs
// are plain (a new session) or encrypted under ticketKey (renewal; nil
// when there is none).
func DecodeServiceTicketReply(b []byte, principal Key, ticketKey *Key) ([]Ticket, error) {
	d := msgr2.NewDecoder(b)
	t, err := decodeServiceTicketReply(d, principal, ticketKey)
	if err != nil {
		return nil, err
	}
	if err := finish(d, "service ticket reply"); err != nil {
		return nil, err
	}
	return t, nil
}

// AppendConnectionSecret appends the connection-secret field of an
// AUTH_DONE payload: a bufferlist holding encode_encrypt(string secret)
// under the session key.
func AppendConnectionSecret(dst []byte, sessionKey Key, secret []byte) []byte {
	inner := EncodeEncrypt(nil, sessionKey, func(b []byte) []byte { return msgr2.AppendBytes(b, secret) })
	return msgr2.AppendBytes(dst, inner)
}

// DecodeConnectionSecret decodes the value AppendConnectionSecret
// encodes, without the outer bufferlist length.
func DecodeConnectionSecret(b []byte, sessionKey Key) ([]byte, error) {
	v, n, err := DecodeDecrypt(sessionKey, b)
	if err != nil {
		return nil, fmt.Errorf("connection secret: %w", err)
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: connection secret: %d trailing bytes", ErrDecode, len(b)-n)
	}
	d := msgr2.NewDecoder(v)
	s := d.Bytes()
	if err := finish(d, "connection secret"); err != nil {
		return nil, err
	}
	return s, nil
}

// AuthDone is what a client learns from a cephx AUTH_DONE payload.
type AuthDone struct {
	// SessionKey is the auth service's session key: it signs the msgr2
	// handshake (AUTH_SIGNATURE) and decrypts the connection secret.
	SessionKey Key
	// ConnectionSecret is empty in crc mode and 64 bytes in secure mode.
	ConnectionSecret []byte
	// Tickets holds the auth ticket first, then the extra tickets (for
	// the services asked for in Authenticate.OtherKeys).
	Tickets []Ticket
}

// ParseAuthDone decodes the cephx payload of AUTH_DONE for a
// GET_AUTH_SESSION_KEY exchange, as CephxClientHandler::handle_response
// does: CephXResponseHeader, a service-ticket reply encrypted under the
// client's secret, then (from servers that send them) a bufferlist with
// the encrypted connection secret and a bufferlist of extra tickets
// encrypted under the new session key. A non-zero status wraps
// ErrAuthFailed.
func ParseAuthDone(payload []byte, clientSecret Key) (AuthDone, error) {
	d := msgr2.NewDecoder(payload)
	if err := expectResponse(d, GetAuthSessionKey); err != nil {
		return AuthDone{}, err
	}
	tickets, err := decodeServiceTicketReply(d, clientSecret, nil)
	if err != nil {
		return AuthDone{}, err
	}
	var done AuthDone
	found := false
	for _, t := range tickets {
		if t.ServiceID == EntityAuth {
			done.SessionKey, found = t.SessionKey, true
		}
	}
	if !found {
		return AuthDone{}, fmt.Errorf("%w: no auth ticket in reply", ErrDecode)
	}
	done.Tickets = tickets
	if d.Remaining() == 0 {
		return done, nil
	}
	cbl, extra := d.Bytes(), d.Bytes()
	if err := finish(d, "auth done"); err != nil {
		return AuthDone{}, err
	}
	// An empty bufferlist means no connection secret, as in Ceph.
	if len(cbl) > 0 {
		if done.ConnectionSecret, err = DecodeConnectionSecret(cbl, done.SessionKey); err != nil {
			return AuthDone{}, err
		}
	}
	if len(extra) > 0 {
		more, err := DecodeServiceTicketReply(extra, done.SessionKey, nil)
		if err != nil {
			return AuthDone{}, fmt.Errorf("extra tickets: %w", err)
		}
		done.Tickets = append(done.Tickets, more...)
	}
	return done, nil
}

// AppendAuthDone appends a cephx AUTH_DONE payload as a monitor builds
// it for a new session; tickets must include one for EntityAuth whose
// session key encrypts secret and extra. It is the inverse of
// ParseAuthDone, for tests and servers.
func AppendAuthDone(dst []byte, clientSecret Key, tickets []Ticket, secret []byte, extra []Ticket) ([]byte, error) {
	var session *Key
	for i := range tickets {
		if tickets[i].ServiceID == EntityAuth {
			session = &tickets[i].SessionKey
		}
	}
	if session == nil {
		return nil, errors.New("cephx: AppendAuthDone: no auth ticket")
	}
	dst = ResponseHeader{RequestType: GetAuthSessionKey}.Append(dst)
	dst = AppendServiceTicketReply(dst, clientSecret, tickets)
	dst = AppendConnectionSecret(dst, *session, secret)
	var ex []byte
	if len(extra) > 0 {
		ex = AppendServiceTicketReply(nil, *session, extra)
	}
	return msgr2.AppendBytes(dst, ex), nil
}
