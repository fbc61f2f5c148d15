package gomsgr

import (
	"encoding/json"
	"io"
)

// Dump is a snapshot of a messenger's state, like Ceph's `messenger dump`
// admin command: its workers (the event-loop messenger's), listeners,
// connections with their state, peer and queues, and the dispatch queue.
// Both messengers return one from their Dump method.
type Dump struct {
	Name          string           `json:"name"`               // the messenger's entity name
	Nonce         uint32           `json:"nonce"`              // its instance nonce
	Addrs         []string         `json:"addrs"`              // bound addresses
	Workers       []WorkerDump     `json:"workers,omitempty"`  // event-loop workers (conn only)
	Listeners     []ListenerDump   `json:"listeners"`          // the listening socket, if bound
	Connections   []ConnectionDump `json:"connections"`        // every registered connection, by peer address
	DispatchQueue int              `json:"dispatch_queue_len"` // items waiting for the slow dispatchers
	Faults        uint64           `json:"faults"`             // connections closed by a fault so far
}

// WorkerDump describes one event-loop worker.
type WorkerDump struct {
	ID     int    `json:"id"`
	Driver string `json:"driver"` // epoll or uring
	Wait   string `json:"wait"`   // poller or thread
	Refs   int64  `json:"refs"`   // connections and listeners on it
}

// ListenerDump describes the listening socket.
type ListenerDump struct {
	Addr         string `json:"addr"`          // the bound address
	Worker       int    `json:"worker"`        // the worker that accepts (-1: none, or not an event loop)
	Accepted     uint64 `json:"accepted"`      // sockets accepted
	AcceptErrors uint64 `json:"accept_errors"` // failed accepts
}

// ConnectionDump describes one connection.
type ConnectionDump struct {
	Peer     string `json:"peer_addr"`     // Connection.PeerAddr
	PeerName string `json:"peer_name"`     // Connection.PeerName
	PeerType string `json:"peer_type"`     // Connection.PeerType
	Role     string `json:"role"`          // client or server (the current socket's side)
	State    string `json:"state"`         // connecting, handshake, ready, standby or closed
	Worker   int    `json:"worker"`        // its event-loop worker (-1: none)
	OutQueue int    `json:"out_queue_len"` // messages waiting to be written
	Unacked  int    `json:"unacked"`       // written, not yet acknowledged (lossless)
	// The session's sequence numbers and ids (Ceph's in_seq, out_seq,
	// connect_seq and cookies), as the connection's worker last
	// published them: what a stalled lossless session is diagnosed by.
	InSeq        uint64 `json:"in_seq"`
	OutSeq       uint64 `json:"out_seq"`
	ConnectSeq   uint64 `json:"connect_seq"`
	ClientCookie uint64 `json:"client_cookie"`
	ServerCookie uint64 `json:"server_cookie"`
	Features     uint64 `json:"features"`    // Connection.Features
	Registry     string `json:"registry"`    // conns, accepting or anon
	Auth         string `json:"auth"`        // Security.Method
	Mode         string `json:"con_mode"`    // Security.Mode
	Entity       string `json:"auth_entity"` // Security.Entity
}

// WriteJSON writes d as indented JSON.
func (d Dump) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}
