package auth

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// secretBytes is the connection secret a cephx server issues in secure
// mode (Ceph's CephxServiceHandler: 64 bytes, of which the AES-GCM key and
// both nonces take the first 40).
const secretBytes = 64

// errDenied is what a server answers a wrong key or an unknown entity
// with; the client sees AUTH_BAD_METHOD with -EACCES.
var errDenied = errors.New("permission denied")

// cephxClient is one connection's cephx client (Ceph's
// CephxClientHandler for a new session: AUTH_MODE_MON, then
// CEPHX_GET_AUTH_SESSION_KEY).
type cephxClient struct {
	a               *engineAuth
	peer            msgr2.EntityType
	serverChallenge uint64
	asked           bool
}

func (c *cephxClient) Request() ([]byte, error) {
	return cephx.MonAuthRequest{EntityType: c.a.nameType, EntityID: c.a.nameID}.Append(nil), nil
}

func (c *cephxClient) More(reply []byte) ([]byte, error) {
	if c.asked {
		return nil, errors.New("a second server challenge")
	}
	ch, err := cephx.DecodeServerChallenge(reply)
	if err != nil {
		return nil, err
	}
	c.serverChallenge, c.asked = ch.Challenge, true
	clientChallenge, err := random64()
	if err != nil {
		return nil, err
	}
	req := cephx.Authenticate{
		ClientChallenge: clientChallenge,
		Key:             cephx.ChallengeKey(*c.a.cfg.Key, ch.Challenge, clientChallenge),
		OtherKeys:       WantKeys,
	}
	return req.Append(nil), nil
}

func (c *cephxClient) Done(globalID uint64, mode msgr2.ConMode, payload []byte) (session.AuthResult, error) {
	if !c.asked {
		return session.AuthResult{}, errors.New("AUTH_DONE before the server's challenge")
	}
	d, err := cephx.ParseAuthDone(payload, *c.a.cfg.Key)
	if err != nil {
		return session.AuthResult{}, err
	}
	if err := checkSecret(mode, d.ConnectionSecret); err != nil {
		return session.AuthResult{}, err
	}
	if c.peer == msgr2.EntityMon {
		// Only a monitor's tickets are kept (as Ceph's MonClient keeps
		// them); a gomsgr service running the monitor exchange issues
		// tickets for itself alone.
		c.a.tickets.Set(globalID, time.Now(), d.Tickets)
		c.a.tickets.setExchange(c.serverChallenge)
	}
	return session.AuthResult{SessionKey: d.SessionKey.Secret[:], Secret: d.ConnectionSecret, GlobalID: globalID}, nil
}

func checkSecret(mode msgr2.ConMode, secret []byte) error {
	if mode == Secure && len(secret) < 40 {
		return fmt.Errorf("secure mode with a %d-byte connection secret", len(secret))
	}
	return nil
}

// cephxServer is one connection's cephx server: the exchange a monitor
// runs (CephxServiceHandler::start_session and handle_request for
// CEPHX_GET_AUTH_SESSION_KEY).
//
// A first payload in authorizer mode (a ticket from a monitor) goes to an
// authorizerServer instead, when the server holds service secrets.
type cephxServer struct {
	a         *engineAuth
	name      string
	challenge uint64
	started   bool
	az        *authorizerServer
}

func (s *cephxServer) Handle(payload []byte, mode msgr2.ConMode) ([]byte, bool, session.AuthResult, error) {
	switch {
	case s.az != nil:
		return s.az.Handle(payload, mode)
	case s.started:
		return s.finish(payload, mode)
	case len(payload) > 0 && payload[0] == cephx.AuthModeAuthorizer:
		if s.a.cfg.ServiceSecrets == nil {
			return nil, false, session.AuthResult{}, fmt.Errorf("%w: an authorizer, and no service secrets to open it", errDenied)
		}
		s.az = &authorizerServer{a: s.a}
		return s.az.Handle(payload, mode)
	case s.a.cfg.Keyring == nil:
		return nil, false, session.AuthResult{}, fmt.Errorf("%w: a monitor request, and no keyring to check it", errDenied)
	}
	return s.start(payload)
}

func (s *cephxServer) start(payload []byte) ([]byte, bool, session.AuthResult, error) {
	r, err := cephx.DecodeMonAuthRequest(payload)
	if err != nil {
		return nil, false, session.AuthResult{}, err
	}
	s.name = msgr2.EntityType(r.EntityType).String() + "." + r.EntityID
	if s.challenge, err = random64(); err != nil {
		return nil, false, session.AuthResult{}, err
	}
	s.started = true
	return cephx.ServerChallenge{Challenge: s.challenge}.Append(nil), false, session.AuthResult{}, nil
}

func (s *cephxServer) finish(payload []byte, mode msgr2.ConMode) ([]byte, bool, session.AuthResult, error) {
	req, err := cephx.DecodeAuthenticate(payload)
	if err != nil {
		return nil, false, session.AuthResult{}, err
	}
	entry, err := s.a.cfg.Keyring.Lookup(s.name)
	if err != nil {
		return nil, false, session.AuthResult{}, fmt.Errorf("%w: %w", errDenied, err)
	}
	if req.Key != cephx.ChallengeKey(entry.Key, s.challenge, req.ClientChallenge) {
		return nil, false, session.AuthResult{}, fmt.Errorf("%w: %s: wrong key", errDenied, s.name)
	}
	sk, err := newKey()
	if err != nil {
		return nil, false, session.AuthResult{}, err
	}
	gid := s.a.nextGlobalID.Add(1)
	var secret []byte
	if mode == Secure {
		secret = make([]byte, secretBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, false, session.AuthResult{}, err
		}
	}
	t := cephx.Ticket{
		ServiceID:  cephx.EntityAuth,
		SessionKey: sk,
		Validity:   durationTime(s.a.cfg.TicketTTL),
		Blob:       cephx.TicketBlob{SecretID: 1, Blob: s.ticket(gid, sk)},
	}
	extra, err := s.a.serviceTickets(req.OtherKeys, s.name, gid, entry)
	if err != nil {
		return nil, false, session.AuthResult{}, err
	}
	reply, err := cephx.AppendAuthDone(nil, entry.Key, []cephx.Ticket{t}, secret, extra)
	if err != nil {
		return nil, false, session.AuthResult{}, err
	}
	return reply, true, session.AuthResult{SessionKey: sk.Secret[:], Secret: secret, GlobalID: gid, Peer: s.name}, nil
}

// ticket seals what the server knows of the session under its own secret;
// the client treats it as opaque (Ceph's CephXServiceTicketInfo).
func (s *cephxServer) ticket(gid uint64, sk cephx.Key) []byte {
	return cephx.EncodeEncrypt(nil, s.a.ticketSecret, func(b []byte) []byte {
		b = msgr2.AppendString(b, s.name)
		b = msgr2.AppendU64(b, gid)
		return sk.Append(b)
	})
}

func newKey() (cephx.Key, error) {
	k := cephx.Key{Type: 1}
	now := time.Now()
	k.Created = cephx.Time{Sec: uint32(now.Unix()), Nsec: uint32(now.Nanosecond())}
	_, err := rand.Read(k.Secret[:])
	return k, err
}

func random64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
