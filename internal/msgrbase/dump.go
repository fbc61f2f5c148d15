package msgrbase

import (
	"sort"

	"github.com/gomsgr/gomsgr"
)

// dumped is what a connection tells a dump beyond the gomsgr.Connection
// methods; both messengers' connections have it.
type dumped interface {
	gomsgr.Connection
	Role() string
	State() string
	Unacked() int
	QueueLen() int
}

// Dump returns the messenger's dump with the workers and listeners its
// implementation reports; the connections are the registry's, sorted by
// peer address. It may be called from any goroutine at any time.
func (s *Shell) Dump(workers []gomsgr.WorkerDump, listeners []gomsgr.ListenerDump) gomsgr.Dump {
	d := gomsgr.Dump{Name: s.Name().String(), Nonce: s.Nonce(), Faults: s.Faults(), DispatchQueue: s.DispatchQueueLen(),
		Workers: workers, Listeners: listeners}
	for _, a := range s.Addrs() {
		d.Addrs = append(d.Addrs, a.String())
	}
	s.EachConn(func(core *Conn, where string) {
		c := core.Self.(dumped)
		cd := gomsgr.ConnectionDump{
			Peer: c.PeerAddr().String(), PeerName: c.PeerName().String(), PeerType: c.PeerType().String(),
			Role: c.Role(), State: c.State(), Worker: -1, OutQueue: c.QueueLen(), Unacked: c.Unacked(),
			Features: c.Features(), Registry: where,
		}
		cd.InSeq, cd.OutSeq = core.Seqs()
		if ss, ok := c.(interface {
			SessionIDs() (connectSeq, clientCookie, serverCookie uint64)
		}); ok {
			cd.ConnectSeq, cd.ClientCookie, cd.ServerCookie = ss.SessionIDs()
		}
		sec := c.Security()
		cd.Auth, cd.Mode, cd.Entity = sec.Method, sec.Mode, sec.Entity
		if w, ok := c.(interface{ Worker() int }); ok {
			cd.Worker = w.Worker()
		}
		d.Connections = append(d.Connections, cd)
	})
	sort.Slice(d.Connections, func(i, j int) bool { return d.Connections[i].Peer < d.Connections[j].Peer })
	return d
}
