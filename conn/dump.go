package conn

import (
	"encoding/json"
	"io"
	"sort"

	"github.com/gomsgr/gomsgr/internal/msgrbase"
)

// Dump is a snapshot of a messenger's state, like Ceph's `messenger dump`
// admin command: listeners, connections with their state, peer, worker and
// queue, and the dispatch queue.
type Dump struct {
	Name          string           `json:"name"`
	Nonce         uint32           `json:"nonce"`
	Addrs         []string         `json:"addrs"`
	Workers       []WorkerDump     `json:"workers"`
	Listeners     []ListenerDump   `json:"listeners"`
	Connections   []ConnectionDump `json:"connections"`
	DispatchQueue int              `json:"dispatch_queue_len"`
	Faults        uint64           `json:"faults"`
}

// WorkerDump describes one worker of the messenger's stack.
type WorkerDump struct {
	ID     int    `json:"id"`
	Driver string `json:"driver"`
	Wait   string `json:"wait"`
	Refs   int64  `json:"refs"`
}

// ListenerDump describes the listening socket.
type ListenerDump struct {
	Addr         string `json:"addr"`
	Worker       int    `json:"worker"`
	Accepted     uint64 `json:"accepted"`
	AcceptErrors uint64 `json:"accept_errors"`
}

// ConnectionDump describes one connection.
type ConnectionDump struct {
	Peer     string `json:"peer_addr"`
	PeerName string `json:"peer_name"`
	PeerType string `json:"peer_type"`
	Role     string `json:"role"`
	State    string `json:"state"`
	Worker   int    `json:"worker"`
	OutQueue int    `json:"out_queue_len"`
	Unacked  int    `json:"unacked"`
	Features uint64 `json:"features"`
	Registry string `json:"registry"` // conns, accepting or anon
}

// Dump returns a snapshot of the messenger. It may be called from any
// goroutine at any time.
func (m *Messenger) Dump() Dump {
	d := Dump{Name: m.sh.Name().String(), Nonce: m.sh.Nonce(), Faults: m.sh.Faults(), DispatchQueue: m.sh.DispatchQueueLen()}
	for _, w := range m.stack.Workers() {
		d.Workers = append(d.Workers, WorkerDump{ID: w.ID(), Driver: w.Center().DriverName(), Wait: w.Center().WaitMode().String(), Refs: w.Refs()})
	}
	for _, a := range m.sh.Addrs() {
		d.Addrs = append(d.Addrs, a.String())
	}
	m.mu.Lock()
	if p := m.proc; p != nil {
		l := ListenerDump{Addr: p.addr.String(), Worker: -1, Accepted: p.accepted.Load(), AcceptErrors: p.acceptErrors.Load()}
		if p.w != nil {
			l.Worker = p.w.ID()
		}
		d.Listeners = append(d.Listeners, l)
	}
	m.mu.Unlock()
	m.sh.EachConn(func(core *msgrbase.Conn, where string) {
		c := core.Self.(*Connection)
		d.Connections = append(d.Connections, ConnectionDump{
			Peer:     c.PeerAddr().String(),
			PeerName: c.PeerName().String(),
			PeerType: c.PeerType().String(),
			Role:     c.Role(),
			State:    c.State(),
			Worker:   c.Worker(),
			OutQueue: c.QueueLen(),
			Unacked:  c.Unacked(),
			Features: c.Features(),
			Registry: where,
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
