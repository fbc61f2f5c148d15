// Package msgrbase holds what both messengers (conn, the event loop, and
// simple, a goroutine per connection) share above their I/O: the part of
// Ceph's Messenger base class that AsyncMessenger and SimpleMessenger both
// inherit. That is the policy set with its receive throttles' budget, the
// dispatch chain and its connection events, the registry of connections by
// peer address, and the Ceph ms_* defaults of their common options.
//
// Nothing here does I/O or starts a goroutine, and nothing allocates per
// message: each messenger keeps its own hot path and locks, and calls in.
//
//	pols := msgrbase.NewPolicySet(func(name string, max int64) *Throttle { ... })
//	pols.SetDefault(gomsgr.LossyClient(0))
//	p, th := pols.Policy(gomsgr.EntityOSD), pols.Throttles(gomsgr.EntityOSD)
package msgrbase
