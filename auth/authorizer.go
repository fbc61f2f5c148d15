package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// authorizerClient is one connection's client side of authorizer mode:
// it presents the ticket for the peer's service (cephx.Authorizer), answers
// the service's challenge and checks that the service answered its nonce
// (CephXAuthorizer: build_authorizer, add_challenge, verify_reply).
type authorizerClient struct {
	az        cephx.Authorizer
	challenge bool
}

func newAuthorizerClient(t cephx.Ticket, globalID uint64) (*authorizerClient, error) {
	nonce, err := random64()
	if err != nil {
		return nil, err
	}
	return &authorizerClient{az: cephx.Authorizer{
		GlobalID: globalID, ServiceID: t.ServiceID, Ticket: t.Blob, SessionKey: t.SessionKey, Nonce: nonce,
	}}, nil
}

func (c *authorizerClient) Request() ([]byte, error) { return c.az.Append(nil, nil), nil }

func (c *authorizerClient) More(reply []byte) ([]byte, error) {
	if c.challenge {
		return nil, errors.New("a second authorizer challenge")
	}
	ch, err := cephx.OpenAuthorizeChallenge(c.az.SessionKey, reply)
	if err != nil {
		return nil, err
	}
	c.challenge = true
	return c.az.Append(nil, &ch), nil
}

func (c *authorizerClient) Done(globalID uint64, mode msgr2.ConMode, payload []byte) (session.AuthResult, error) {
	r, err := cephx.DecodeAuthorizeReply(c.az.SessionKey, payload)
	if err != nil {
		return session.AuthResult{}, err
	}
	if r.NoncePlusOne != c.az.Nonce+1 {
		// Only a holder of the service secret could have read the nonce.
		return session.AuthResult{}, fmt.Errorf("%w: the service answered the wrong nonce", errDenied)
	}
	if err := checkSecret(mode, r.ConnectionSecret); err != nil {
		return session.AuthResult{}, err
	}
	return session.AuthResult{SessionKey: c.az.SessionKey.Secret[:], Secret: r.ConnectionSecret, GlobalID: globalID}, nil
}

// authorizerServer is one connection's service side of authorizer mode
// (cephx_verify_authorizer with a challenge, as msgr2 always asks): the
// first authorizer is answered with a challenge, the second must carry
// it plus one.
type authorizerServer struct {
	a         *engineAuth
	challenge uint64
	asked     bool
}

func (s *authorizerServer) Handle(payload []byte, mode msgr2.ConMode) ([]byte, bool, session.AuthResult, error) {
	none := session.AuthResult{}
	req, err := cephx.DecodeAuthorizer(payload)
	if err != nil {
		return nil, false, none, err
	}
	secret, ok := s.a.cfg.ServiceSecrets.ServiceSecret(req.ServiceID, req.Ticket.SecretID)
	if !ok {
		return nil, false, none, fmt.Errorf("%w: no %v secret %d to open the ticket", errDenied,
			msgr2.EntityType(req.ServiceID), req.Ticket.SecretID)
	}
	info, err := cephx.OpenTicket(secret, req.Ticket)
	if err != nil {
		return nil, false, none, fmt.Errorf("%w: %w", errDenied, err)
	}
	if info.Ticket.GlobalID != req.GlobalID {
		return nil, false, none, fmt.Errorf("%w: global id %d presents the ticket of %d", errDenied, req.GlobalID, info.Ticket.GlobalID)
	}
	if exp := info.Ticket.Expires; exp.Sec != 0 && time.Now().After(exp.Time()) {
		return nil, false, none, fmt.Errorf("%w: %s's ticket expired at %v", errDenied, info.Ticket.Name(), exp.Time())
	}
	az, err := req.Open(info.SessionKey)
	if err != nil {
		return nil, false, none, fmt.Errorf("%w: %w", errDenied, err)
	}
	if !s.asked {
		if s.challenge, err = random64(); err != nil {
			return nil, false, none, err
		}
		s.asked = true
		return cephx.AppendAuthorizeChallenge(nil, info.SessionKey, s.challenge), false, none, nil
	}
	if !az.HaveChallenge || az.ServerChallengePlusOne != s.challenge+1 {
		return nil, false, none, fmt.Errorf("%w: %s did not answer the challenge", errDenied, info.Ticket.Name())
	}
	var conSecret []byte
	if mode == Secure {
		conSecret = make([]byte, secretBytes)
		if _, err := rand.Read(conSecret); err != nil {
			return nil, false, none, err
		}
	}
	reply := cephx.AuthorizeReply{NoncePlusOne: az.Nonce + 1, ConnectionSecret: conSecret}.Append(nil, info.SessionKey)
	return reply, true, session.AuthResult{
		SessionKey: info.SessionKey.Secret[:], Secret: conSecret,
		GlobalID: info.Ticket.GlobalID, Peer: info.Ticket.Name(),
	}, nil
}

// serviceTickets issues a ticket for each service of want whose current
// secret the server holds (KeyServer::build_session_auth_info), for the
// client name with globalID; caps come from the client's keyring entry.
func (a *engineAuth) serviceTickets(want uint32, name string, gid uint64, entry cephx.Entry) ([]cephx.Ticket, error) {
	cur, ok := a.cfg.ServiceSecrets.(current)
	if !ok {
		return nil, nil
	}
	et, id := splitName(name)
	now := time.Now()
	ttl := a.cfg.TicketTTL
	var out []cephx.Ticket
	for bit := uint32(1); bit <= cephx.EntityMgr; bit <<= 1 {
		sec, ok := cur.Current(bit)
		if want&bit == 0 || !ok {
			continue
		}
		sk, err := newKey()
		if err != nil {
			return nil, err
		}
		info := cephx.ServiceTicketInfo{SessionKey: sk, Ticket: cephx.AuthTicket{
			EntityType: et, EntityID: id, GlobalID: gid,
			Created: cephxTime(now), Expires: cephxTime(now.Add(ttl)),
			Caps: cephx.AuthCaps{Caps: msgr2.AppendString(nil, entry.Caps[msgr2.EntityType(bit).String()])},
		}}
		out = append(out, cephx.Ticket{
			ServiceID: bit, SessionKey: sk, Validity: durationTime(ttl),
			Blob: cephx.SealTicket(sec.Key, sec.ID, info),
		})
	}
	return out, nil
}

func splitName(name string) (uint32, string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return uint32(entityTypes[name[:i]]), name[i+1:]
		}
	}
	return 0, name
}

func cephxTime(t time.Time) cephx.Time {
	return cephx.Time{Sec: uint32(t.Unix()), Nsec: uint32(t.Nanosecond())}
}

func durationTime(d time.Duration) cephx.Time {
	return cephx.Time{Sec: uint32(d / time.Second), Nsec: uint32(d % time.Second)}
}
