package session

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Request is what an incoming CLIENT_IDENT or SESSION_RECONNECT says about
// the session the peer wants.
type Request struct {
	// Reconnect is set for SESSION_RECONNECT, clear for CLIENT_IDENT.
	Reconnect bool
	// Addrs are the peer's advertised addresses; the messenger looks the
	// existing session up by them.
	Addrs        msgr2.AddrVec
	ClientCookie uint64
	ServerCookie uint64 // reconnect only
	GlobalSeq    uint64
	ConnectSeq   uint64 // reconnect only
	MsgSeq       uint64 // reconnect only: the last message the peer received
}

// ExState is where an existing session is, as the decision table sees it.
type ExState uint8

// Existing session states.
const (
	// ExConnecting: dialling, handshaking, backing off or waiting.
	ExConnecting ExState = iota
	// ExReady: the session is open.
	ExReady
	// ExStandby: the session is kept without a socket.
	ExStandby
	// ExClosed: the connection is closed (marked down or failed lossy).
	ExClosed
)

// Existing is a snapshot of the session a messenger already has with a
// peer: the fields of Ceph's exproto that the decision table reads.
type Existing struct {
	State ExState
	// Replacing: another socket is being moved onto this session.
	Replacing     bool
	Lossy, Server bool // the existing connection's policy
	ClientCookie  uint64
	ServerCookie  uint64
	PeerGlobalSeq uint64
	ConnectSeq    uint64
	// PeerAddr is the existing connection's peer address (the one dialled,
	// or the peer's advertised one).
	PeerAddr msgr2.EntityAddr
}

// VerdictKind is the server's answer to an incoming session request.
type VerdictKind uint8

// The verdicts, after Ceph's handle_existing_connection and
// handle_reconnect.
const (
	// VerdictNew opens a new session on this connection (SERVER_IDENT).
	VerdictNew VerdictKind = iota
	// VerdictReplace moves this connection's socket onto the existing
	// session, which answers with SERVER_IDENT or RECONNECT_OK.
	VerdictReplace
	// VerdictReset answers SESSION_RESET{Full}.
	VerdictReset
	// VerdictRetry answers SESSION_RETRY{Seq} (stale connect_seq).
	VerdictRetry
	// VerdictRetryGlobal answers SESSION_RETRY_GLOBAL{Seq} (stale
	// global_seq).
	VerdictRetryGlobal
	// VerdictWait answers WAIT: a connection race this side's existing
	// connection wins.
	VerdictWait
	// VerdictStop closes this connection: it is staler than the existing
	// one.
	VerdictStop
)

var verdictNames = [...]string{"new", "replace", "reset", "retry", "retry-global", "wait", "stop"}

// String returns the verdict's name, e.g. "retry-global".
func (k VerdictKind) String() string {
	if int(k) < len(verdictNames) {
		return verdictNames[k]
	}
	return "verdict?"
}

// Verdict is the decision on one session request.
type Verdict struct {
	Kind VerdictKind
	// Full is SESSION_RESET's flag: the client must reset its session.
	Full bool
	// Seq is the connect_seq of a retry or the global_seq of a global
	// retry.
	Seq uint64
	// ResetExisting: before taking the socket, the existing session
	// resets (the peer restarted and the policy checks resets).
	ResetExisting bool
	// StopExisting: the existing connection is lossy and is closed in
	// favour of this one (VerdictNew).
	StopExisting bool
	// KeepaliveExisting: the existing connection, which won a race,
	// should send a keepalive so that its connect goes through.
	KeepaliveExisting bool
}

// CompareAddr orders entity addresses for the connection-race rule (the
// lower address's connection wins) the way Ceph does: entity_addr_t's
// operator< is a memcmp of the struct, so type and nonce (little-endian
// words) come first, then the sockaddr (family, big-endian port, address).
// A gomsgr peer and a Ceph daemon thus agree on who wins a race.
func CompareAddr(a, b msgr2.EntityAddr) int {
	var ab, bb [40]byte
	return bytes.Compare(addrKey(&ab, a), addrKey(&bb, b))
}

// addrKey lays a out as the bytes of Ceph's entity_addr_t on a
// little-endian host: type, nonce, then sockaddr_in or sockaddr_in6.
func addrKey(buf *[40]byte, a msgr2.EntityAddr) []byte {
	b := buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(a.Type))
	b = binary.LittleEndian.AppendUint32(b, a.Nonce)
	ip := a.Addr.Addr()
	if ip.Is4() || ip.Is4In6() {
		b = binary.LittleEndian.AppendUint16(b, 2) // AF_INET
		b = binary.BigEndian.AppendUint16(b, a.Addr.Port())
		v4 := ip.Unmap().As4()
		b = append(b, v4[:]...)
		b = append(b, make([]byte, 16)...) // sin_zero and the rest of the union
		return b
	}
	b = binary.LittleEndian.AppendUint16(b, 10) // AF_INET6
	b = binary.BigEndian.AppendUint16(b, a.Addr.Port())
	b = append(b, 0, 0, 0, 0) // flowinfo
	v6 := ip.As16()
	b = append(b, v6[:]...)
	return append(b, 0, 0, 0, 0) // scope id
}

// Decide answers a session request against the existing session ex (nil
// when the messenger has none). me is this messenger's address; resetCheck
// is the policy's flag. It is Ceph's decision table: for CLIENT_IDENT
// (handle_existing_connection) and for SESSION_RECONNECT
// (handle_reconnect).
func Decide(req *Request, ex *Existing, me msgr2.EntityAddr, resetCheck bool) Verdict {
	if req.Reconnect {
		return decideReconnect(req, ex, me, resetCheck)
	}
	return decideIdent(req, ex, me, resetCheck)
}

func peerAddr(req *Request) msgr2.EntityAddr {
	if len(req.Addrs) > 0 {
		return req.Addrs[0]
	}
	return msgr2.EntityAddr{}
}

func decideIdent(req *Request, ex *Existing, me msgr2.EntityAddr, resetCheck bool) Verdict {
	switch {
	case ex == nil || ex.State == ExClosed:
		return Verdict{Kind: VerdictNew}
	case ex.Replacing:
		return Verdict{Kind: VerdictWait}
	case ex.PeerGlobalSeq > req.GlobalSeq:
		return Verdict{Kind: VerdictStop} // this connection is stale
	case ex.Lossy:
		return Verdict{Kind: VerdictNew, StopExisting: true}
	case ex.ServerCookie != 0 && ex.ClientCookie != 0 && ex.ClientCookie != req.ClientCookie:
		// The peer restarted: its new session takes the existing
		// connection's place (and queue, unless resets are checked).
		return Verdict{Kind: VerdictReplace, ResetExisting: resetCheck}
	case ex.ClientCookie == req.ClientCookie:
		// The handshake was cut between CLIENT_IDENT and SERVER_IDENT.
		return Verdict{Kind: VerdictReplace}
	case ex.State == ExReady || ex.State == ExStandby:
		return Verdict{Kind: VerdictReplace}
	case CompareAddr(peerAddr(req), me) < 0 || ex.Server:
		// Both sides dialled at once: the lower address's connection wins.
		return Verdict{Kind: VerdictReplace}
	default:
		return Verdict{Kind: VerdictWait, KeepaliveExisting: true}
	}
}

func decideReconnect(req *Request, ex *Existing, me msgr2.EntityAddr, resetCheck bool) Verdict {
	switch {
	case ex == nil || ex.State == ExClosed:
		return Verdict{Kind: VerdictReset, Full: true}
	case ex.Replacing:
		return Verdict{Kind: VerdictRetryGlobal, Seq: ex.PeerGlobalSeq}
	case ex.ClientCookie != req.ClientCookie:
		// This side reset the session the peer wants back.
		return Verdict{Kind: VerdictReset, Full: resetCheck}
	case ex.ServerCookie == 0:
		// This side dialled and never got SERVER_IDENT: resume the
		// session establishment.
		return Verdict{Kind: VerdictReset}
	case ex.PeerGlobalSeq > req.GlobalSeq:
		return Verdict{Kind: VerdictRetryGlobal, Seq: ex.PeerGlobalSeq}
	case ex.ConnectSeq > req.ConnectSeq:
		return Verdict{Kind: VerdictRetry, Seq: ex.ConnectSeq}
	case ex.ConnectSeq == req.ConnectSeq && CompareAddr(ex.PeerAddr, me) > 0 && !ex.Server:
		// Both sides reconnecting: the existing connection wins.
		return Verdict{Kind: VerdictWait}
	}
	return Verdict{Kind: VerdictReplace}
}

// GlobalSeq is a messenger's global_seq counter, shared by its
// connections. The zero value is ready.
type GlobalSeq struct{ v atomic.Uint64 }

// Next returns a new global_seq, first raising the counter to past when a
// peer reported a higher one (Ceph's get_global_seq).
func (g *GlobalSeq) Next(past uint64) uint64 {
	for {
		cur := g.v.Load()
		if past <= cur || g.v.CompareAndSwap(cur, past) {
			return g.v.Add(1)
		}
	}
}
