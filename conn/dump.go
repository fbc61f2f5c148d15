package conn

import (
	"io"

	"github.com/gomsgr/gomsgr"
)

// Dump returns a snapshot of the messenger (Ceph's `messenger dump`): its
// workers, listener, connections and dispatch queue. It may be called from
// any goroutine at any time.
func (m *Messenger) Dump() gomsgr.Dump {
	var workers []gomsgr.WorkerDump
	for _, w := range m.stack.Workers() {
		workers = append(workers, gomsgr.WorkerDump{ID: w.ID(), Driver: w.Center().DriverName(), Wait: w.Center().WaitMode().String(), Refs: w.Refs()})
	}
	var listeners []gomsgr.ListenerDump
	m.mu.Lock()
	if p := m.proc; p != nil {
		l := gomsgr.ListenerDump{Addr: p.addr.String(), Worker: -1, Accepted: p.accepted.Load(), AcceptErrors: p.acceptErrors.Load()}
		if p.w != nil {
			l.Worker = p.w.ID()
		}
		listeners = append(listeners, l)
	}
	m.mu.Unlock()
	return m.sh.Dump(workers, listeners)
}

// WriteDumpJSON writes Dump as indented JSON.
func (m *Messenger) WriteDumpJSON(w io.Writer) error { return m.Dump().WriteJSON(w) }
