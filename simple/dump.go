package simple

import (
	"io"

	"github.com/gomsgr/gomsgr"
)

// Dump returns a snapshot of the messenger (Ceph's `messenger dump`): its
// listener, connections and dispatch queue (no workers: each connection
// has its goroutines). It may be called from any goroutine at any time.
func (m *Messenger) Dump() gomsgr.Dump {
	var listeners []gomsgr.ListenerDump
	for _, a := range m.sh.Addrs() {
		listeners = append(listeners, gomsgr.ListenerDump{Addr: a.String(), Worker: -1, Accepted: m.accepted.Load(), AcceptErrors: m.acceptErr.Load()})
	}
	return m.sh.Dump(nil, listeners)
}

// WriteDumpJSON writes Dump as indented JSON.
func (m *Messenger) WriteDumpJSON(w io.Writer) error { return m.Dump().WriteJSON(w) }
