package msgrbase

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Fault injection for tests (Ceph's ms_inject_*; testhooks.Inject), off
// unless a messenger's Options.Testing or SetInject turns it on. The shell
// decides and counts (SessionCounters); each messenger acts on the
// decision its own way (shut a socket down, wait for the next turn or
// yield, hold a message back). When off it costs one atomic load per read,
// write and delivered message.

// injector is the shell's current injection, nil when off.
type injector struct {
	p atomic.Pointer[testhooks.Inject]
}

// SetInject changes the fault injection while the messenger runs.
func (s *Shell) SetInject(i testhooks.Inject) {
	if i == (testhooks.Inject{}) {
		s.inj.p.Store(nil)
		return
	}
	s.inj.p.Store(&i)
}

// Injecting reports whether any fault injection is on.
func (s *Shell) Injecting() bool { return s.inj.p.Load() != nil }

// InjectSocketFailure reports (and counts) whether the socket should be
// shut down before this read or write: one time in SocketFailures
// (ms_inject_socket_failures).
func (s *Shell) InjectSocketFailure() bool {
	inj := s.inj.p.Load()
	if inj == nil || inj.SocketFailures <= 0 || rand.IntN(inj.SocketFailures) != 0 {
		return false
	}
	s.SC.InjSocket.Add(1)
	return true
}

// InjectCongestion reports (and counts) whether this write attempt is
// refused as if the socket were full: all but one in Congestion
// (ms_inject_network_congestion).
func (s *Shell) InjectCongestion() bool {
	inj := s.inj.p.Load()
	if inj == nil || inj.Congestion <= 0 || rand.IntN(inj.Congestion) == 0 {
		return false
	}
	s.SC.InjCongestion.Add(1)
	return true
}

// InjectDelay sleeps at a race point of a session replacement
// (ms_inject_internal_delays); with SocketFailures set, only one time in
// SocketFailures, as Ceph does.
func (s *Shell) InjectDelay() {
	inj := s.inj.p.Load()
	if inj == nil || inj.InternalDelay <= 0 {
		return
	}
	if inj.SocketFailures > 0 && rand.IntN(inj.SocketFailures) != 0 {
		return
	}
	s.SC.InjDelays.Add(1)
	time.Sleep(inj.InternalDelay)
}

// InjectRecvDelay returns how long to hold back a message just received
// from a peer of type t (0: not at all), with the probability asked for
// that type (ms_inject_delay_type, _max, _probability); it counts the
// delays it picks. The caller keeps the order of the messages after it.
func (s *Shell) InjectRecvDelay(t gomsgr.EntityType) time.Duration {
	inj := s.inj.p.Load()
	if inj == nil || inj.DelayMax <= 0 || inj.DelayType != t || rand.Float64() >= inj.DelayProbability {
		return 0
	}
	s.SC.InjRecvDelays.Add(1)
	return time.Duration(rand.Int64N(int64(inj.DelayMax)) + 1)
}
