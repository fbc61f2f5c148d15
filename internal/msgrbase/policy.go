package msgrbase

import (
	"sync"

	"github.com/gomsgr/gomsgr"
)

// Throttles are a policy's receive throttles (Policy.ThrottleMessages and
// ThrottleBytes; Ceph's policy throttlers), of the messenger's own
// throttle type T.
type Throttles[T any] struct {
	Msgs, Bytes T
}

// PolicySet is the policy for each peer type, the default policy for the
// others, and the throttles each policy owns (Ceph's PolicySet). It is safe
// for concurrent use; its lock is never held while calling out, so it may
// be taken under a messenger's or a connection's lock.
type PolicySet[T any] struct {
	newThrottle func(name string, max int64) T

	mu     sync.RWMutex
	pols   map[gomsgr.EntityType]gomsgr.Policy
	thr    map[gomsgr.EntityType]Throttles[T]
	defPol gomsgr.Policy
	defThr Throttles[T]
}

// NewPolicySet returns an empty set (every peer type gets the zero default
// policy until SetDefault). newThrottle makes a policy's throttle named as
// Ceph names it in `perf dump`; max <= 0 means no limit.
func NewPolicySet[T any](newThrottle func(name string, max int64) T) *PolicySet[T] {
	return &PolicySet[T]{
		newThrottle: newThrottle,
		pols:        map[gomsgr.EntityType]gomsgr.Policy{},
		thr:         map[gomsgr.EntityType]Throttles[T]{},
	}
}

func (s *PolicySet[T]) throttles(name string, p gomsgr.Policy) Throttles[T] {
	return Throttles[T]{
		Msgs:  s.newThrottle("msgr_throttler_messages-"+name, p.ThrottleMessages),
		Bytes: s.newThrottle("msgr_throttler_bytes-"+name, p.ThrottleBytes),
	}
}

// Set sets the policy for peers of type t, with new throttles.
func (s *PolicySet[T]) Set(t gomsgr.EntityType, p gomsgr.Policy) {
	th := s.throttles(t.String(), p)
	s.mu.Lock()
	s.pols[t] = p
	s.thr[t] = th
	s.mu.Unlock()
}

// SetDefault sets the policy for peer types without their own.
func (s *PolicySet[T]) SetDefault(p gomsgr.Policy) {
	th := s.throttles("default", p)
	s.mu.Lock()
	s.defPol = p
	s.defThr = th
	s.mu.Unlock()
}

// Policy returns the policy for peers of type t.
func (s *PolicySet[T]) Policy(t gomsgr.EntityType) gomsgr.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.pols[t]; ok {
		return p
	}
	return s.defPol
}

// Throttles returns the throttles of the policy for peers of type t.
func (s *PolicySet[T]) Throttles(t gomsgr.EntityType) Throttles[T] {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if th, ok := s.thr[t]; ok {
		return th
	}
	return s.defThr
}
