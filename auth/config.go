package auth

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// Methods and modes, re-exported for configuration.
const (
	None   = msgr2.AuthNone
	Cephx  = msgr2.AuthCephx
	CRC    = msgr2.ConModeCRC
	Secure = msgr2.ConModeSecure
)

// DefaultTicketTTL is how long the session tickets a gomsgr server issues
// are valid (Ceph's auth_service_ticket_ttl).
const DefaultTicketTTL = time.Hour

// Config is a messenger's authentication. The zero value speaks auth none
// in crc mode, as gomsgr did before cephx.
type Config struct {
	// Name is the entity the messenger authenticates as, in Ceph's form
	// "type.id" ("client.admin"; the ceph CLI's --name). Required with
	// Key.
	Name string
	// Key is Name's secret (a keyring entry's key). With it the messenger
	// offers cephx when it connects.
	Key *cephx.Key
	// Keyring holds the entities a server accepts with cephx and their
	// keys (a monitor's keyring, or a service's list of clients). With it
	// the messenger requires cephx of the peers that connect to it.
	Keyring cephx.Keyring

	// ClientMethods are the methods offered when connecting, preferred
	// first, tried in turn as the server refuses them (Ceph's
	// auth_client_required). Default: cephx when Key is set, else none.
	ClientMethods []msgr2.AuthMethod
	// ServiceMethods are the methods accepted from connecting peers
	// (Ceph's auth_service_required, and auth_cluster_required for
	// daemons). Default: cephx when Keyring is set, else none.
	ServiceMethods []msgr2.AuthMethod
	// ClientModes are the connection modes offered to servers other than
	// monitors, preferred first (Ceph's ms_client_mode). Default: crc,
	// then secure, as Ceph's.
	ClientModes []msgr2.ConMode
	// MonClientModes are the modes offered to monitors (Ceph's
	// ms_mon_client_mode). Default: secure, then crc, as Ceph's.
	MonClientModes []msgr2.ConMode
	// ServiceModes are the modes a server accepts; it picks the first of
	// the client's list that is here (Ceph's ms_service_mode and
	// ms_mon_service_mode). Default: crc and secure. Auth none only ever
	// gives crc: without a session key there is no secret to encrypt
	// with.
	ServiceModes []msgr2.ConMode
	// TicketTTL is the validity of the tickets a server issues; 0 means
	// DefaultTicketTTL.
	TicketTTL time.Duration

	// Tickets keeps the tickets a cephx client receives from monitors; a
	// connection to a service (a peer that is not a monitor) for which it
	// holds a valid ticket presents it in authorizer mode. Share one with
	// the monitor client that renews them (monc does). nil: the messenger
	// keeps its own.
	Tickets *Tickets
	// ServiceSecrets open the tickets that clients present in authorizer
	// mode (the rotating secrets of a Ceph daemon, fetched by monc). With
	// it the messenger accepts cephx authorizers; with a Keyring too, and
	// when it is a *Rotating, it also issues service tickets, as a monitor
	// does.
	ServiceSecrets ServiceSecrets
}

// Engine returns the configuration as the session engine uses it (nil for
// the zero Config). It checks the configuration: a method without what it
// needs (cephx offered without Key, accepted without Keyring) is an
// error.
func (c *Config) Engine() (session.Auth, error) {
	if c == nil || c.zero() {
		return nil, nil
	}
	a := &engineAuth{cfg: *c}
	a.client = orDefault(c.ClientMethods, c.Key != nil)
	a.service = orDefault(c.ServiceMethods, c.Keyring != nil || c.ServiceSecrets != nil)
	a.clientModes = modesOr(c.ClientModes, CRC, Secure)
	a.monModes = modesOr(c.MonClientModes, Secure, CRC)
	a.serviceModes = modesOr(c.ServiceModes, CRC, Secure)
	if a.cfg.TicketTTL <= 0 {
		a.cfg.TicketTTL = DefaultTicketTTL
	}
	for _, m := range a.client {
		if m == Cephx && (c.Key == nil || c.Name == "") {
			return nil, fmt.Errorf("auth: cephx offered without Name and Key")
		}
	}
	for _, m := range a.service {
		if m == Cephx && c.Keyring == nil && c.ServiceSecrets == nil {
			return nil, fmt.Errorf("auth: cephx accepted without a Keyring or ServiceSecrets")
		}
	}
	a.tickets = c.Tickets
	if a.tickets == nil {
		a.tickets = NewTickets()
	}
	if c.Name != "" {
		t, id, ok := strings.Cut(c.Name, ".")
		et, known := entityTypes[t]
		if !ok || !known || id == "" {
			return nil, fmt.Errorf("auth: entity name %q: want type.id, e.g. client.admin", c.Name)
		}
		a.nameType, a.nameID = uint32(et), id
	}
	if _, err := rand.Read(a.ticketSecret.Secret[:]); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.ticketSecret.Type = 1
	var seed [2]byte
	_, _ = rand.Read(seed[:])
	a.nextGlobalID.Store(4096 + uint64(seed[0])<<8 | uint64(seed[1]))
	return a, nil
}

func (c *Config) zero() bool {
	return c.Name == "" && c.Key == nil && c.Keyring == nil && c.ServiceSecrets == nil && c.ClientMethods == nil &&
		c.ServiceMethods == nil && c.ClientModes == nil && c.MonClientModes == nil && c.ServiceModes == nil
}

var entityTypes = map[string]msgr2.EntityType{
	"mon": msgr2.EntityMon, "mds": msgr2.EntityMDS, "osd": msgr2.EntityOSD,
	"client": msgr2.EntityClient, "mgr": msgr2.EntityMgr,
}

func orDefault(ms []msgr2.AuthMethod, cephx bool) []msgr2.AuthMethod {
	switch {
	case len(ms) > 0:
		return ms
	case cephx:
		return []msgr2.AuthMethod{Cephx}
	}
	return []msgr2.AuthMethod{None}
}

func modesOr(ms []msgr2.ConMode, def ...msgr2.ConMode) []msgr2.ConMode {
	if len(ms) > 0 {
		return ms
	}
	return def
}

// engineAuth is a checked Config with defaults filled in; it implements
// session.Auth.
type engineAuth struct {
	cfg                                 Config
	client, service                     []msgr2.AuthMethod
	clientModes, monModes, serviceModes []msgr2.ConMode
	nameType                            uint32
	nameID                              string
	ticketSecret                        cephx.Key // seals the tickets this server issues
	nextGlobalID                        atomic.Uint64
	tickets                             *Tickets
}

func (a *engineAuth) Methods(r session.Role, _ msgr2.EntityType) []msgr2.AuthMethod {
	if r == session.Client {
		return a.client
	}
	return a.service
}

func (a *engineAuth) Modes(r session.Role, t msgr2.EntityType) []msgr2.ConMode {
	switch {
	case r == session.Server:
		return a.serviceModes
	case t == msgr2.EntityMon:
		return a.monModes
	}
	return a.clientModes
}

func (a *engineAuth) Client(m msgr2.AuthMethod, t msgr2.EntityType) (session.AuthClient, error) {
	if m == Cephx {
		if t != msgr2.EntityMon {
			if tk, gid, ok := a.tickets.Get(uint32(t), time.Now()); ok {
				return newAuthorizerClient(tk, gid)
			}
		}
		return &cephxClient{a: a, peer: t}, nil
	}
	return nil, fmt.Errorf("unsupported auth method %v", m)
}

func (a *engineAuth) Server(m msgr2.AuthMethod, _ msgr2.EntityType) (session.AuthServer, error) {
	if m == Cephx {
		return &cephxServer{a: a}, nil
	}
	return nil, fmt.Errorf("unsupported auth method %v", m)
}
