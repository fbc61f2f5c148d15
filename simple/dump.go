package simple

import (
	"encoding/json"
	"io"
	"sort"

	"github.com/gomsgr/gomsgr/internal/msgrbase"
)

// Dump is a snapshot of a messenger's state, like Ceph's `messenger dump`
// admin command: listeners, connections with their state, peer and queue,
// and the dispatch queue. Its JSON has conn.Dump's field names, without the
// event loop's workers.
type Dump struct {
	Name          string           `json:"name"`               // the messenger's entity name
	Nonce         uint32           `json:"nonce"`              // its instance nonce
	Addrs         []string         `json:"addrs"`              // bound addresses
	Listeners     []ListenerDump   `json:"listeners"`          // the listening socket, if bound
	Connections   []ConnectionDump `json:"connections"`        // every registered connection, by peer address
	DispatchQueue int              `json:"dispatch_queue_len"` // items waiting for the slow dispatchers
	Faults        uint64           `json:"faults"`             // connections closed by a fault so far
}

// ListenerDump describes the listening socket.
type ListenerDump struct {
	Addr         string `json:"addr"`          // the bound address
	Accepted     uint64 `json:"accepted"`      // sockets accepted
	AcceptErrors uint64 `json:"accept_errors"` // failed accepts
}

// ConnectionDump describes one connection.
type ConnectionDump struct {
	Peer     string `json:"peer_addr"`     // Connection.PeerAddr
	PeerName string `json:"peer_name"`     // Connection.PeerName
	PeerType string `json:"peer_type"`     // Connection.PeerType
	Role     string `json:"role"`          // client or server
	State    string `json:"state"`         // Connection.State
	OutQueue int    `json:"out_queue_len"` // Connection.QueueLen
	Unacked  int    `json:"unacked"`       // Connection.Unacked
	Features uint64 `json:"features"`      // Connection.Features
	Registry string `json:"registry"`      // conns, accepting or anon
}

// Dump returns a snapshot of the messenger. It may be called from any
// goroutine at any time.
func (m *Messenger) Dump() Dump {
	d := Dump{Name: m.sh.Name().String(), Nonce: m.sh.Nonce(), Faults: m.sh.Faults(), DispatchQueue: m.sh.DispatchQueueLen()}
	for _, a := range m.sh.Addrs() {
		d.Addrs = append(d.Addrs, a.String())
		d.Listeners = append(d.Listeners, ListenerDump{Addr: a.String(), Accepted: m.accepted.Load(), AcceptErrors: m.acceptErr.Load()})
	}
	m.sh.EachConn(func(core *msgrbase.Conn, where string) {
		c := core.Self.(*Connection)
		core.Mu.Lock()
		role := core.Role.String()
		core.Mu.Unlock()
		d.Connections = append(d.Connections, ConnectionDump{
			Peer: c.PeerAddr().String(), PeerName: c.PeerName().String(), PeerType: c.PeerType().String(),
			Role: role, State: c.State(), OutQueue: c.QueueLen(), Unacked: c.Unacked(), Features: c.Features(), Registry: where,
		})
	})
	sort.Slice(d.Connections, func(i, j int) bool { return d.Connections[i].Peer < d.Connections[j].Peer })
	return d
}

// WriteDumpJSON writes Dump as indented JSON.
func (m *Messenger) WriteDumpJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m.Dump())
}
