package msgrbase

import (
	"sync"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/perf"
)

// Throttles are a policy's receive throttles (Policy.ThrottleMessages and
// ThrottleBytes; Ceph's policy throttlers); nil ones do not limit.
type Throttles struct {
	Msgs, Bytes *Throttle
}

// PolicySet is the policy for each peer type, the default policy for the
// others, and the throttles each policy owns (Ceph's PolicySet). It is safe
// for concurrent use; its lock is never held while calling out, so it may
// be taken under a messenger's or a connection's lock.
type PolicySet struct {
	set *perf.Set
	// Share is the fraction of a policy's ThrottleBytes one frame may
	// take while others hold budget (Throttle.WithShare); set it before
	// Set and SetDefault.
	Share float64

	mu     sync.RWMutex
	pols   map[gomsgr.EntityType]gomsgr.Policy
	thr    map[gomsgr.EntityType]Throttles
	defPol gomsgr.Policy
	defThr Throttles
}

// NewPolicySet returns an empty set (every peer type gets the zero default
// policy until SetDefault). A policy's throttles are registered in set,
// named as Ceph names them in `perf dump`.
func NewPolicySet(set *perf.Set) *PolicySet {
	return &PolicySet{
		set:  set,
		pols: map[gomsgr.EntityType]gomsgr.Policy{},
		thr:  map[gomsgr.EntityType]Throttles{},
	}
}

func (s *PolicySet) throttles(name string, p gomsgr.Policy) Throttles {
	return Throttles{
		Msgs:  NewThrottle(s.set, "msgr_throttler_messages-"+name, p.ThrottleMessages),
		Bytes: NewThrottle(s.set, "msgr_throttler_bytes-"+name, p.ThrottleBytes).WithShare(s.Share),
	}
}

// Set sets the policy for peers of type t, with new throttles.
func (s *PolicySet) Set(t gomsgr.EntityType, p gomsgr.Policy) {
	th := s.throttles(t.String(), p)
	s.mu.Lock()
	s.pols[t] = p
	s.thr[t] = th
	s.mu.Unlock()
}

// SetDefault sets the policy for peer types without their own.
func (s *PolicySet) SetDefault(p gomsgr.Policy) {
	th := s.throttles("default", p)
	s.mu.Lock()
	s.defPol = p
	s.defThr = th
	s.mu.Unlock()
}

// Policy returns the policy for peers of type t.
func (s *PolicySet) Policy(t gomsgr.EntityType) gomsgr.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.pols[t]; ok {
		return p
	}
	return s.defPol
}

// Throttles returns the throttles of the policy for peers of type t.
func (s *PolicySet) Throttles(t gomsgr.EntityType) Throttles {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if th, ok := s.thr[t]; ok {
		return th
	}
	return s.defThr
}
