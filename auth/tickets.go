package auth

import (
	"bytes"
	"sync"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
)

// Tickets keeps the cephx tickets a client holds: the auth ticket from a
// monitor's exchange and the service tickets that come with it (or later,
// from a principal-session-key request). It is Ceph's CephXTicketManager,
// shared by every connection of a messenger and by the monitor client
// that renews them, so it is safe for concurrent use.
//
// A messenger connecting with cephx to a peer that is not a monitor uses
// the ticket for the peer's type, if it holds a valid one, to present an
// authorizer (Ceph's authorizer mode); without one it runs the monitor
// exchange with the peer.
type Tickets struct {
	mu        sync.Mutex
	globalID  uint64
	challenge uint64 // the server challenge of the last monitor exchange
	m         map[uint32]heldTicket
}

type heldTicket struct {
	t          cephx.Ticket
	renewAfter time.Time
	expires    time.Time
}

// NewTickets returns an empty ticket store.
func NewTickets() *Tickets { return &Tickets{m: map[uint32]heldTicket{}} }

// Set stores (copies of) tickets received at now for the client with
// globalID (0 keeps the one it has). As in
// CephXTicketHandler::verify_service_ticket_reply, a ticket expires after
// its validity and is due for renewal once three quarters of it passed.
func (s *Tickets) Set(globalID uint64, now time.Time, tickets []cephx.Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if globalID != 0 {
		s.globalID = globalID
	}
	for _, t := range tickets {
		// The blob may alias a frame's buffer, which the reader reuses.
		t.Blob.Blob = bytes.Clone(t.Blob.Blob)
		v := time.Duration(t.Validity.Sec)*time.Second + time.Duration(t.Validity.Nsec)
		h := heldTicket{t: t, expires: now.Add(v), renewAfter: now.Add(v - v/4)}
		if v == 0 {
			h.expires, h.renewAfter = time.Time{}, time.Time{}
		}
		s.m[t.ServiceID] = h
	}
}

// Get returns the ticket for service (a cephx.Entity* id) and the global
// id it was issued to, if one is held and has not expired at now.
func (s *Tickets) Get(service uint32, now time.Time) (cephx.Ticket, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.m[service]
	if !ok || (!h.expires.IsZero() && !now.Before(h.expires)) {
		return cephx.Ticket{}, 0, false
	}
	return h.t, s.globalID, true
}

// Need returns the services of want (Entity* bits, EntityAuth included)
// whose ticket is missing or due for renewal at now (Ceph's
// validate_tickets), and when the next held ticket falls due.
func (s *Tickets) Need(want uint32, now time.Time) (need uint32, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for bit := uint32(1); bit != 0 && bit <= want; bit <<= 1 {
		if want&bit == 0 {
			continue
		}
		h, ok := s.m[bit]
		switch {
		case !ok:
			need |= bit
		case h.renewAfter.IsZero():
		case !now.Before(h.renewAfter):
			need |= bit
		case next.IsZero() || h.renewAfter.Before(next):
			next = h.renewAfter
		}
	}
	return need, next
}

// GlobalID returns the global id the monitor assigned (0 before the
// first authentication).
func (s *Tickets) GlobalID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.globalID
}

// ServiceSecrets are the secrets a service opens the tickets clients
// present with (Ceph's KeyStore::get_service_secret). A daemon of a Ceph
// cluster gets them from the monitors (monc fetches them into a
// *Rotating); a gomsgr cluster without Ceph monitors can share fixed ones.
type ServiceSecrets interface {
	// ServiceSecret returns the secret with id secretID of service (a
	// cephx.Entity* id).
	ServiceSecret(service uint32, secretID uint64) (cephx.Key, bool)
}

// Rotating holds the rotating secrets of one or more service types
// (Ceph's RotatingKeyRing). It implements ServiceSecrets, and a gomsgr
// server with a Keyring that holds one issues service tickets for its
// services, sealed with their current secrets. Safe for concurrent use.
type Rotating struct {
	mu sync.Mutex
	m  map[uint32]cephx.RotatingSecrets
}

// NewRotating returns an empty store.
func NewRotating() *Rotating { return &Rotating{m: map[uint32]cephx.RotatingSecrets{}} }

// Set replaces service's secrets.
func (r *Rotating) Set(service uint32, s cephx.RotatingSecrets) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[service] = s
}

// ServiceSecret implements ServiceSecrets.
func (r *Rotating) ServiceSecret(service uint32, secretID uint64) (cephx.Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[service].Lookup(secretID)
}

// Current returns the secret new tickets for service are sealed with.
func (r *Rotating) Current(service uint32) (cephx.ExpiringKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[service].Current()
}

// current is what a server needs to issue service tickets.
type current interface {
	Current(service uint32) (cephx.ExpiringKey, bool)
}
