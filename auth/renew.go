package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
)

// Renewal. A client renews its tickets over its open monitor session, in
// MAuth messages, as Ceph's MonClient does (_check_auth_tickets): first
// the auth ticket, due once three quarters of its validity passed
// (CEPHX_GET_AUTH_SESSION_KEY with the old ticket, proved with the
// server challenge of the session's own exchange), then the service
// tickets it still needs (CEPHX_GET_PRINCIPAL_SESSION_KEY, proved with an
// authorizer for the auth service). One request at a time: the caller
// sends what RenewRequest returns and hands the answer to HandleReply.

// ErrNoAuthTicket means the store holds no auth ticket to renew with: the
// client has not authenticated with a monitor yet.
var ErrNoAuthTicket = errors.New("auth: no auth ticket (not authenticated with a monitor)")

// WantKeys are the services a client asks tickets for besides the auth
// service, as a Ceph client does: monitors, OSDs and managers.
const WantKeys = cephx.EntityMon | cephx.EntityOSD | cephx.EntityMgr

// setExchange records the monitor exchange's server challenge, which
// proves a renewal on the same session.
func (s *Tickets) setExchange(serverChallenge uint64) {
	s.mu.Lock()
	s.challenge = serverChallenge
	s.mu.Unlock()
}

// RenewRequest returns the cephx request (an MAuth payload) that renews
// what is due among want (Entity* bits; the auth ticket is always
// wanted) at now, or nil when nothing is: the auth ticket first, then the
// service tickets. force (Entity* bits) names tickets to renew even
// before they are due. key is the client's own secret.
func (s *Tickets) RenewRequest(key cephx.Key, want uint32, now time.Time, force uint32) ([]byte, error) {
	need, _ := s.Need(want|cephx.EntityAuth, now)
	need |= force & (want | cephx.EntityAuth)
	if need == 0 {
		return nil, nil
	}
	s.mu.Lock()
	h, ok := s.m[cephx.EntityAuth]
	gid, ch := s.globalID, s.challenge
	s.mu.Unlock()
	if !ok {
		return nil, ErrNoAuthTicket
	}
	if need&cephx.EntityAuth != 0 {
		cc, err := random64()
		if err != nil {
			return nil, err
		}
		req := cephx.Authenticate{
			ClientChallenge: cc, Key: cephx.ChallengeKey(key, ch, cc),
			OldTicket: h.t.Blob, OtherKeys: want,
		}
		return req.Append(nil), nil
	}
	nonce, err := random64()
	if err != nil {
		return nil, err
	}
	az := cephx.Authorizer{GlobalID: gid, ServiceID: cephx.EntityAuth, Ticket: h.t.Blob, SessionKey: h.t.SessionKey, Nonce: nonce}
	return cephx.AppendPrincipalRequest(nil, az, need&^cephx.EntityAuth), nil
}

// HandleReply takes a monitor's answer (an MAuthReply payload) to a
// RenewRequest at now and stores the tickets it carries. key is the
// client's own secret.
func (s *Tickets) HandleReply(key cephx.Key, payload []byte, now time.Time) error {
	h, _, err := cephx.DecodeResponseHeader(payload)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old, ok := s.m[cephx.EntityAuth]
	s.mu.Unlock()
	if !ok {
		return ErrNoAuthTicket
	}
	switch h.RequestType {
	case cephx.GetAuthSessionKey:
		// The new auth ticket's blob comes encrypted under the old
		// session key, since the request carried the old ticket.
		tickets, _, err := cephx.ParseTicketReply(payload, cephx.GetAuthSessionKey, key, &old.t.SessionKey)
		if err != nil {
			return fmt.Errorf("auth: ticket renewal: %w", err)
		}
		s.Set(0, now, tickets)
	case cephx.GetPrincipalSession:
		tickets, _, err := cephx.ParseTicketReply(payload, cephx.GetPrincipalSession, old.t.SessionKey, nil)
		if err != nil {
			return fmt.Errorf("auth: service tickets: %w", err)
		}
		s.Set(0, now, tickets)
	default:
		return fmt.Errorf("auth: %w: reply type %#x to a renewal", cephx.ErrDecode, h.RequestType)
	}
	return nil
}

// Expires returns when the ticket for service expires (zero: none held,
// or no expiry).
func (s *Tickets) Expires(service uint32) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[service].expires
}
