package msgrbase

import (
	"net/netip"

	"github.com/gomsgr/gomsgr"
)

// AddrKey is what the registry knows a peer by: its address and nonce.
type AddrKey struct {
	ap    netip.AddrPort
	nonce uint32
}

// KeyOf returns a's registry key.
func KeyOf(a gomsgr.EntityAddr) AddrKey { return AddrKey{a.Addr, a.Nonce} }

// PeerAddr returns a peer's address as a connection reports it: the first
// address it advertised once the handshake told it (if it has a port), the
// dialled or accepted address target before.
func PeerAddr(advertised gomsgr.AddrVec, target gomsgr.EntityAddr) gomsgr.EntityAddr {
	if len(advertised) > 0 && advertised[0].Addr.Port() != 0 {
		return advertised[0]
	}
	return target
}

// Where a connection is registered, as Dump reports it.
const (
	InConns     = "conns"     // registered by its peer's address
	InAccepting = "accepting" // accepted, handshake not done
	InAnon      = "anon"      // anonymous: never found by address
)

// Registry is a messenger's connections (Ceph's conns, accepting_conns and
// anon_conns): the ones found by peer address, the accepted ones still in
// their handshake, and the anonymous ones. It is not safe for concurrent
// use: the messenger's lock guards it.
type Registry[C comparable] struct {
	conns     map[AddrKey]C
	accepting map[C]struct{}
	anon      map[C]struct{}
}

// NewRegistry returns an empty registry.
func NewRegistry[C comparable]() Registry[C] {
	return Registry[C]{conns: map[AddrKey]C{}, accepting: map[C]struct{}{}, anon: map[C]struct{}{}}
}

// Lookup returns the connection registered under k (the zero C if none).
func (r *Registry[C]) Lookup(k AddrKey) C { return r.conns[k] }

// Register registers c under k, in place of any other.
func (r *Registry[C]) Register(k AddrKey, c C) { r.conns[k] = c }

// Drop unregisters the connection under k if it is c.
func (r *Registry[C]) Drop(k AddrKey, c C) {
	if r.conns[k] == c {
		delete(r.conns, k)
	}
}

// AddAccepting records an accepted connection whose handshake runs.
func (r *Registry[C]) AddAccepting(c C) { r.accepting[c] = struct{}{} }

// Accepted forgets c as accepting (its handshake ended).
func (r *Registry[C]) Accepted(c C) { delete(r.accepting, c) }

// AddAnon records an anonymous connection.
func (r *Registry[C]) AddAnon(c C) { r.anon[c] = struct{}{} }

// DropAnon forgets c as anonymous.
func (r *Registry[C]) DropAnon(c C) { delete(r.anon, c) }

// Unregister forgets c wherever it is; k is the key it may be registered
// under.
func (r *Registry[C]) Unregister(k AddrKey, c C) {
	r.Drop(k, c)
	delete(r.accepting, c)
	delete(r.anon, c)
}

// All returns every connection, by address first, then accepting, then
// anonymous.
func (r *Registry[C]) All() []C {
	all := make([]C, 0, len(r.conns)+len(r.accepting)+len(r.anon))
	r.Each(func(c C, _ string) { all = append(all, c) })
	return all
}

// Each calls f with every connection and where it is registered (InConns,
// InAccepting or InAnon), in All's order.
func (r *Registry[C]) Each(f func(c C, where string)) {
	for _, c := range r.conns {
		f(c, InConns)
	}
	for c := range r.accepting {
		f(c, InAccepting)
	}
	for c := range r.anon {
		f(c, InAnon)
	}
}
