package msgrbase

import (
	"context"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// MessengerAPI is the part of gomsgr.Messenger both messengers implement
// the same way, on their shell. A Messenger embeds it through an unexported
// alias, so that only these methods are promoted.
type MessengerAPI struct{ s *Shell }

// NewMessengerAPI returns s's API.
func NewMessengerAPI(s *Shell) MessengerAPI { return MessengerAPI{s} }

// Name returns the messenger's entity name.
func (a MessengerAPI) Name() gomsgr.EntityName { return a.s.Name() }

// Perf returns the messenger's perf counters (Ceph's l_msgr_*): dump them
// with WriteJSON or export them with perf/promperf.
func (a MessengerAPI) Perf() *perf.Set { return a.s.Perf() }

// SetPolicy sets the policy for peers of type t; gomsgr.ErrStarted after
// Start.
func (a MessengerAPI) SetPolicy(t gomsgr.EntityType, p gomsgr.Policy) error {
	return a.s.SetPolicy(t, p)
}

// SetDefaultPolicy sets the policy for peer types without their own;
// gomsgr.ErrStarted after Start.
func (a MessengerAPI) SetDefaultPolicy(p gomsgr.Policy) error { return a.s.SetDefaultPolicy(p) }

// AddDispatcher appends d to the dispatch chain; gomsgr.ErrStarted after
// Start.
func (a MessengerAPI) AddDispatcher(d gomsgr.Dispatcher) error { return a.s.AddDispatcher(d) }

// ConnectTo returns the connection to addr, creating it (and starting its
// connect and handshake in the background) if there is none. An address of
// this messenger gives the loopback connection, which delivers to the
// local dispatchers.
func (a MessengerAPI) ConnectTo(t gomsgr.EntityType, addr gomsgr.EntityAddr) (gomsgr.Connection, error) {
	c, err := a.s.Dial(t, addr, false)
	if err != nil {
		return nil, err
	}
	return c.Self, nil
}

// SendTo sends m to addr over its connection, connecting if needed.
func (a MessengerAPI) SendTo(m *gomsgr.Message, t gomsgr.EntityType, addr gomsgr.EntityAddr) error {
	c, err := a.s.Dial(t, addr, false)
	if err != nil {
		return err
	}
	return c.Send(m)
}

// Addrs returns the bound addresses (empty when not bound).
func (a MessengerAPI) Addrs() gomsgr.AddrVec { return a.s.Addrs() }

// MarkDown closes the connection to addr, if any.
func (a MessengerAPI) MarkDown(addr gomsgr.EntityAddr) { a.s.MarkDown(addr) }

// MarkDownAll closes every connection.
func (a MessengerAPI) MarkDownAll() { a.s.MarkDownAll() }

// Wait blocks until Shutdown completed or ctx ends.
func (a MessengerAPI) Wait(ctx context.Context) error { return a.s.Wait(ctx) }

// DispatchThrottleBytes returns the bytes held by received messages
// waiting for or in dispatch, and the limit (ms_dispatch_throttle_bytes;
// 0, 0 when disabled).
func (a MessengerAPI) DispatchThrottleBytes() (cur, max int64) {
	return a.s.DThr.Current(), a.s.DThr.Max()
}

// SetInject changes the fault injection (testhooks.Inject) while the
// messenger runs; the zero Inject turns it off.
func (a MessengerAPI) SetInject(i testhooks.Inject) { a.s.SetInject(i) }

// SessionStats returns what the messenger's sessions went through.
func (a MessengerAPI) SessionStats() gomsgr.SessionStats {
	s := &a.s.SC
	return gomsgr.SessionStats{
		Faults: s.Faults.Load(), Reconnects: s.Reconnects.Load(), Standbys: s.Standbys.Load(),
		Requeued: s.Requeued.Load(), Replayed: s.Replayed.Load(), Duplicates: s.Duplicates.Load(), Skipped: s.Skipped.Load(),
		Replacements: s.Replacements.Load(), RemoteResets: s.RemoteResets.Load(), AuthFailures: s.AuthFailures.Load(),
		InjectedSocketFailures: s.InjSocket.Load(), InjectedCongestion: s.InjCongestion.Load(),
		InjectedDelays: s.InjDelays.Load(), InjectedRecvDelays: s.InjRecvDelays.Load(),
	}
}
