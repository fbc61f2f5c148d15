package msgrtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/testhooks"
)

func (w *synWorkload) connect() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.live) >= w.sz.maxConns {
		return
	}
	ci, si := w.rng.IntN(len(w.clients)), w.rng.IntN(len(w.servers))
	gc, err := w.clients[ci].ConnectTo(gomsgr.EntityOSD, w.srvAddrs[si])
	if err != nil {
		w.errorf("client %d: ConnectTo server %d: %v", ci, si, err)
		return
	}
	c, ok := gc.(synConnI)
	if !ok {
		w.errorf("client %d: %T has no State, Unacked or QueueLen method", ci, gc)
		return
	}
	if sc := w.conns[c]; sc != nil {
		if sc.down {
			// A mark-down or a close unregisters the connection first:
			// ConnectTo must not give it back.
			w.errorf("client %d: ConnectTo server %d returned connection #%d, marked down or reset before (state %s, err %v)",
				ci, si, sc.id, c.State(), c.Err())
		}
		return
	}
	w.nextID++
	sc := &synConn{id: w.nextID, c: c, cli: ci, srv: si, live: len(w.live)}
	w.conns[c] = sc
	w.all = append(w.all, sc)
	w.live = append(w.live, sc)
	w.st.newConns++
	w.log.Debug("syn: new connection", "conn", sc.id, "client", w.clients[ci].Name().String(), "server", w.srvAddrs[si].String(),
		"ptr", fmt.Sprintf("%p", c))
}

func (w *synWorkload) removeLiveLocked(sc *synConn) {
	if sc.live < 0 {
		return
	}
	last := w.live[len(w.live)-1]
	w.live[sc.live] = last
	last.live = sc.live
	w.live = w.live[:len(w.live)-1]
	sc.live = -1
}

// forgiveLocked drops the connection's in-flight messages from the check:
// a mark-down or a session reset may legitimately lose them.
func (w *synWorkload) forgiveLocked(sc *synConn, why string) {
	n := len(sc.pend[0]) + len(sc.pend[1])
	w.pending -= n
	w.st.forgiven += n
	sc.forgiven = sc.seq
	sc.pend[0], sc.pend[1] = nil, nil
	w.log.Debug("syn: forgive", "conn", sc.id, "why", why, "messages", n, "through_seq", sc.seq)
}

func (w *synWorkload) send() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waitInFlightLocked() || len(w.live) == 0 {
		return
	}
	sc := w.live[w.rng.IntN(len(w.live))]
	idx := w.rng.IntN(len(w.payloads))
	class := 0
	m := &gomsgr.Message{Type: synPing, Front: binary.LittleEndian.AppendUint64(nil, uint64(sc.id)), Data: w.payloads[idx]}
	if w.rng.IntN(100) < 5 {
		class, m.Priority = 1, gomsgr.PrioHighest
		w.st.interlopers++
	}
	if w.v.congestion && len(m.Data) >= 64<<10 {
		// Ceph's send_large_message: congestion once the connection is up.
		cli := w.clients[sc.cli]
		if w.st.congested < 1600 && sc.c.IsConnected() {
			cli.SetInject(testhooks.Inject{Congestion: 100})
			w.st.congested++
		} else {
			cli.SetInject(testhooks.Inject{})
		}
	}
	sc.seq++
	m.Tid = synTid(sc.seq, class, idx)
	sc.pend[class] = append(sc.pend[class], synPend{seq: sc.seq, idx: idx, sent: time.Now()})
	w.pending++
	if err := sc.c.SendMessage(m); err != nil {
		// Refused (closed by a reset whose event is not dispatched yet):
		// never in flight.
		sc.pend[class] = sc.pend[class][:len(sc.pend[class])-1]
		w.pending--
		w.st.sendRefused++
		return
	}
	sc.sent++
	w.st.sent++
}

func (w *synWorkload) drop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.live) <= w.sz.minLive || !w.waitInFlightLocked() || len(w.live) <= w.sz.minLive {
		return
	}
	sc := w.live[w.rng.IntN(len(w.live))]
	w.forgiveLocked(sc, "mark down")
	sc.down = true
	w.removeLiveLocked(sc)
	sc.c.MarkDown()
	if w.v.peerPolicies() {
		// Lossless peers: mark the server's end down too.
		w.servers[sc.srv].MarkDown(w.clients[sc.cli].Addrs()[0])
	}
}

// pong checks one PONG a client received.
func (w *synWorkload) pong(cli int, m *gomsgr.Message) {
	seq, class, idx := synUntid(m.Tid)
	c := m.Conn
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := w.conns[c]
	if c == nil {
		w.errorf("client %d: PONG seq %d on connection %T", cli, seq, m.Conn)
		return
	}
	if sc == nil {
		// A PONG on a connection the client never opened (in the peer
		// variant, one the server dialled): its messages cannot be ours.
		w.st.stray++
		w.log.Debug("syn: stray pong", "client", cli, "seq", seq, "peer", c.PeerAddr().String())
		return
	}
	if len(m.Front) == 9 {
		if from := int(binary.LittleEndian.Uint64(m.Front)); from != sc.id {
			// The reply to a message sent on another (older) connection
			// came on this one: the server's connection carried the old
			// session's traffic into the new session.
			w.log.Debug("syn: cross-session pong", "conn", sc.id, "from_conn", from, "seq", seq, "stale", m.Front[8])
			if m.Front[8] == 0 {
				// The server dispatched it before it learnt of the reset
				// (a race Ceph has too): tolerated, counted.
				w.st.crossRacy++
				return
			}
			other := "?"
			if from > 0 && from <= len(w.all) {
				o := w.all[from-1]
				other = fmt.Sprintf("client %d -> server %d, marked down or reset: %v, forgiven through seq %d", o.cli, o.srv, o.down, o.forgiven)
			}
			w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d belongs to conn #%d (%s): the server dispatched "+
				"its PING after the old session was reset and replaced by this one, and the reply went out on the new session "+
				"(Ceph's reset_session discards the reset session's undispatched messages)",
				sc.id, sc.cli, sc.srv, w.label, seq, class, from, other)
			return
		}
	}
	if sc.down || seq <= sc.forgiven {
		w.st.late++
		return
	}
	q := sc.pend[class]
	k := slices.IndexFunc(q, func(p synPend) bool { return p.seq == seq })
	switch {
	case k < 0:
		w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d is not awaited (duplicate or unknown; awaiting %v)",
			sc.id, sc.cli, sc.srv, w.label, seq, class, synSeqs(q, 8))
		return
	case k > 0:
		w.errorf("conn #%d (client %d -> server %d, %s): PONG seq %d class %d arrived before %d earlier ones %v",
			sc.id, sc.cli, sc.srv, w.label, seq, class, k, synSeqs(q[:k], 8))
	}
	p := q[k]
	want := w.payloads[p.idx]
	switch {
	case p.idx != idx:
		w.errorf("conn #%d: PONG seq %d carries payload index %d, sent %d", sc.id, seq, idx, p.idx)
	case len(m.Front) != 9 || len(m.Middle) != 0:
		w.errorf("conn #%d: PONG seq %d has front %d B, middle %d B; want 9 and 0", sc.id, seq, len(m.Front), len(m.Middle))
	case !bytes.Equal(m.Data, want):
		at := 0
		for at < min(len(m.Data), len(want)) && m.Data[at] == want[at] {
			at++
		}
		w.errorf("conn #%d: PONG seq %d payload %d differs: %d B, want %d B, first difference at byte %d",
			sc.id, seq, idx, len(m.Data), len(want), at)
	case (class == 1) != (m.Priority == gomsgr.PrioHighest):
		w.errorf("conn #%d: PONG seq %d class %d came with priority %d", sc.id, seq, class, m.Priority)
	}
	sc.pend[class] = q[k+1:]
	w.pending -= k + 1
	sc.ponged++
	w.st.pongs++
	w.st.pongBytes += int64(len(m.Data))
}

func synSeqs(q []synPend, n int) []uint64 {
	var s []uint64
	for i, p := range q {
		if i == n {
			break
		}
		s = append(s, p.seq)
	}
	return s
}

type synClient struct {
	w   *synWorkload
	idx int
}

func (d *synClient) Dispatch(m *gomsgr.Message) bool {
	defer m.Release()
	if m.Type != synPong {
		d.w.mu.Lock()
		d.w.errorf("client %d: message of type %v (want PONG)", d.idx, m.Type)
		d.w.mu.Unlock()
		return true
	}
	d.w.pong(d.idx, m)
	return true
}

func (d *synClient) event(c gomsgr.Connection, what string, count *int, forgive bool) {
	w := d.w
	w.mu.Lock()
	defer w.mu.Unlock()
	*count++
	sc := w.conns[c]
	if sc == nil {
		return
	}
	w.log.Debug("syn: event", "conn", sc.id, "event", what, "down", sc.down)
	if what == "reset" && sc.down && sc.live < 0 {
		// MarkDown delivers no reset event (as in Ceph); a fault racing
		// the mark-down's close does.
		w.st.resetAfterDown++
	}
	if forgive {
		w.forgiveLocked(sc, what)
	}
	if what == "reset" && !sc.down {
		sc.down = true
		w.removeLiveLocked(sc)
	}
}

func (d *synClient) HandleConnect(c gomsgr.Connection) {
	d.event(c, "connect", &d.w.st.connectEv, false)
}
func (d *synClient) HandleAccept(c gomsgr.Connection) { d.event(c, "accept", &d.w.st.acceptEv, false) }
func (d *synClient) HandleReset(c gomsgr.Connection) bool {
	d.event(c, "reset", &d.w.st.resetEv, true)
	return true
}
func (d *synClient) HandleRemoteReset(c gomsgr.Connection) {
	d.event(c, "remote reset", &d.w.st.remoteResetEv, true)
}
func (d *synClient) HandleRefused(c gomsgr.Connection) bool {
	d.event(c, "refused", &d.w.st.refusedEv, false)
	return false
}

// synServer echoes every PING back on its connection: same payload
// buffers (released with the reply), type PONG, same Tid and priority.
type synServer struct {
	w     *synWorkload
	idx   int
	conns map[gomsgr.Connection]*synSrvConn // dispatch goroutine only
}

// synSrvConn is what a server saw on one of its connections: the newest
// client connection (#id in the PING's front; ids grow, and a client's new
// connection to a server has a higher id than its old ones) and, at its
// last remote reset, the newest id seen so far.
type synSrvConn struct {
	id         int
	newest     int
	staleBelow int // PINGs of ids <= staleBelow belong to a reset session
	resets     int
}

func (d *synServer) Dispatch(m *gomsgr.Message) bool {
	if m.Type != synPing {
		d.w.mu.Lock()
		d.w.errorf("server %d: message of type %v (want PING)", d.idx, m.Type)
		d.w.mu.Unlock()
		m.Release()
		return true
	}
	// The reply's front: the client connection's id, and whether this PING
	// was dispatched although its session had been reset before.
	front := make([]byte, 9)
	if len(m.Front) == 8 {
		copy(front, m.Front)
		if d.track(m) {
			front[8] = 1
		}
	}
	r := &gomsgr.Message{Type: synPong, Priority: m.Priority, Tid: m.Tid, Front: front, Middle: m.Middle, Data: m.Data}
	r.SetReleaser(func(_ *gomsgr.Message, req any) { req.(*gomsgr.Message).Release() }, m)
	if err := m.Conn.SendMessage(r); err != nil {
		m.Release()
		d.w.mu.Lock()
		d.w.st.echoErr++
		d.w.mu.Unlock()
	}
	return true
}

func (d *synServer) conn(c gomsgr.Connection) *synSrvConn {
	if d.conns == nil {
		d.conns = map[gomsgr.Connection]*synSrvConn{}
	}
	sc := d.conns[c]
	if sc == nil {
		d.w.mu.Lock()
		d.w.nextSrvID++
		sc = &synSrvConn{id: d.w.nextSrvID}
		d.w.mu.Unlock()
		d.conns[c] = sc
	}
	return sc
}

// track reports whether the PING belongs to a session that was reset
// before it was dispatched: a PING of a client connection at or below the
// newest one seen when the server connection's session was last reset
// (Ceph discards a reset session's undispatched messages), or older than
// one already dispatched on this server connection.
func (d *synServer) track(m *gomsgr.Message) bool {
	id := int(binary.LittleEndian.Uint64(m.Front))
	sc := d.conn(m.Conn)
	stale := id <= sc.staleBelow || id < sc.newest
	if id > sc.newest {
		if sc.newest != 0 {
			d.w.log.Debug("syn: server connection carries a new client connection", "server", d.idx, "srvconn", sc.id,
				"from_conn", sc.newest, "to_conn", id, "resets", sc.resets)
		}
		sc.newest = id
	}
	if stale {
		seq, _, _ := synUntid(m.Tid)
		d.w.mu.Lock()
		d.w.st.srvStale++
		d.w.mu.Unlock()
		d.w.log.Debug("syn: server dispatches a PING of a reset session", "server", d.idx, "srvconn", sc.id,
			"conn", id, "seq", seq, "newest_conn", sc.newest, "stale_below", sc.staleBelow, "resets", sc.resets)
	}
	return stale
}

func (d *synServer) count(p *int) {
	d.w.mu.Lock()
	*p++
	d.w.mu.Unlock()
}

func (d *synServer) HandleConnect(gomsgr.Connection) {}
func (d *synServer) HandleAccept(gomsgr.Connection)  {}
func (d *synServer) HandleReset(gomsgr.Connection) bool {
	d.count(&d.w.st.srvResetEv)
	return true
}
func (d *synServer) HandleRemoteReset(c gomsgr.Connection) {
	sc := d.conn(c)
	sc.resets++
	sc.staleBelow = sc.newest
	d.w.log.Debug("syn: server remote reset", "server", d.idx, "srvconn", sc.id, "newest_conn", sc.newest)
	d.count(&d.w.st.srvRemoteResetEv)
}
func (d *synServer) HandleRefused(gomsgr.Connection) bool { return false }
