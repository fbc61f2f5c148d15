package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// Role is the side of the handshake an engine plays.
type Role uint8

const (
	// Client connects and sends CLIENT_IDENT.
	Client Role = iota
	// Server accepts and answers with SERVER_IDENT.
	Server
)

// String returns "client" or "server".
func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// State is where an engine is in the session.
type State uint8

// Engine states, in handshake order.
const (
	StateBanner  State = iota // waiting for the peer's banner
	StateHello                // waiting for the peer's HELLO
	StateAuth                 // client: waiting for AUTH_DONE; server: for AUTH_REQUEST
	StateAuthSig              // waiting for the peer's AUTH_SIGNATURE
	StateIdent                // client: waiting for SERVER_IDENT; server: for CLIENT_IDENT
	StateReady                // session established: messages flow
	StateClosed               // failed or closed; nothing more is accepted
)

var stateNames = [...]string{"banner", "hello", "auth", "auth-signature", "ident", "ready", "closed"}

// String returns the state's name, e.g. "auth-signature".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// Ceph feature bits (CEPH_FEATURE_*), the daemon namespace carried in the
// ident frames.
const (
	// FeatureMsgAddr2 is CEPH_FEATURE_MSG_ADDR2 (bit 59), required by every
	// msgr2 peer.
	FeatureMsgAddr2 uint64 = 1 << 59
	// FeaturesPacific is what a Ceph 16.2 client advertises (captured from
	// ceph 16.2.15); gomsgr advertises it so that daemons treat it as a
	// current client.
	FeaturesPacific uint64 = 4540138314316775423
)

// Errors the engine returns; each closes the session.
var (
	// ErrProtocol is a frame that is valid msgr2 but not allowed now (a
	// MESSAGE before the handshake ends, an unknown control frame, ...).
	ErrProtocol = errors.New("session: protocol violation")
	// ErrPeerType means the peer is not the entity type we dialled.
	ErrPeerType = errors.New("session: wrong peer entity type")
	// ErrAuth means authentication failed or asked for an unsupported
	// method or mode.
	// It is gomsgr.ErrAuth, so that users match it without this package.
	ErrAuth = gomsgr.ErrAuth
	// ErrMissingFeatures means one side lacks Ceph features the other
	// requires.
	ErrMissingFeatures = errors.New("session: missing required features")
	// ErrWait means the peer answered WAIT: a connection race its own
	// connection won. The client backs off for the maximum time.
	ErrWait = errors.New("session: peer asked to wait (connection race)")
	// ErrReplaced means this connection's socket goes to the existing
	// session (Replacement says how); the connection itself is done.
	ErrReplaced = errors.New("session: socket handed to the existing session")
	// ErrStale means an existing session is newer than this connection's
	// request: the connection is closed.
	ErrStale = errors.New("session: stale connection")
	// ErrSkippedMessage means a MESSAGE arrived with a seq past the next
	// one expected, and Config.FailOnSkippedMessage asked to fail the
	// session on it (Ceph's ms_die_on_skipped_message aborts the daemon).
	ErrSkippedMessage = errors.New("session: missed message")
)

// Sink receives what the engine decodes. Its methods run on the goroutine
// that calls Feed.
type Sink interface {
	// Ready reports that the handshake completed.
	Ready(e *Engine)
	// Deliver hands over one received MESSAGE frame. The segments alias the
	// buffer given to Feed: copy what must outlive the call.
	Deliver(h *msgr2.MsgHeader2, front, middle, data []byte) error
	// Acked reports that the peer has received every message up to seq.
	Acked(seq uint64)
}

// SessionSink is implemented by messengers that keep lossless sessions
// across sockets. A Sink without it gets a new session on every
// CLIENT_IDENT and a full SESSION_RESET on every SESSION_RECONNECT (the
// answers for a messenger that has no existing session).
type SessionSink interface {
	// Existing decides an incoming session request (server side) against
	// the session the messenger already has with the peer; see Decide.
	Existing(req *Request) Verdict
	// DiscardRequeued drops the requeued messages the peer already has
	// (seq <= seq) from the front of the out-queue and returns how many.
	// left reports whether the highest level still holds messages
	// (requeued or new): a new session then keeps out_seq, as Ceph's
	// discard_requeued_up_to does; otherwise it restarts at 0.
	DiscardRequeued(seq uint64) (n int, left bool)
	// ResetSession discards every queued and unacknowledged message and
	// reports a remote reset: the session starts over.
	ResetSession()
}

// Config describes the local side and the connection.
type Config struct {
	Role Role
	// Name is the local entity; its Type is sent in HELLO, its Num in the
	// ident frame's global id.
	Name msgr2.EntityName
	// AuthID is the auth entity id ("admin" for client.admin); defaults to
	// the name's number, or "admin" for a new client.
	AuthID string
	// Addrs are the local addresses advertised in the ident frame. When
	// empty (a client that did not bind), the engine advertises the address
	// the peer saw in its HELLO, with port 0 and Nonce, as Ceph clients do.
	Addrs msgr2.AddrVec
	// Nonce identifies the local messenger instance.
	Nonce uint32
	// PeerType is the entity type the client expects to reach (client
	// only; the server learns it from HELLO).
	PeerType msgr2.EntityType
	// PeerAddr is the peer's address: the target for a client, the
	// connecting socket for a server (sent back in HELLO).
	PeerAddr msgr2.EntityAddr
	// Policy returns the policy for a peer type; the engine reads Lossy and
	// the feature masks from it.
	Policy func(msgr2.EntityType) gomsgr.Policy
	// GlobalSeq returns the messenger's next global sequence number,
	// raised past past first (Ceph's get_global_seq).
	GlobalSeq func(past uint64) uint64
	// NoRevision1 offers msgr2.0 framing only (a banner without
	// REVISION_1); otherwise the banner is msgr2.LocalBanner.
	NoRevision1 bool
	// MaxSegmentBytes bounds each frame segment; 0 means msgr2's default.
	MaxSegmentBytes uint32
	// NewCookie returns a fresh nonzero session cookie (client_cookie /
	// server_cookie); default: random.
	NewCookie func() uint64
	// Step, when set, is called at each named step point (fault
	// injection for tests; nil in production).
	Step func(Role, Step) Action
	// FailOnSkippedMessage fails the session with ErrSkippedMessage when
	// a MESSAGE's seq skips past the next one expected (Ceph's
	// ms_die_on_skipped_message, default false). Without it the message
	// is delivered and the gap counted (Skipped), as Ceph logs "missed
	// message?" and goes on: after a SESSION_RESET that keeps the queue,
	// the requeued messages keep their seqs and the new session sees a gap.
	FailOnSkippedMessage bool
	// Auth authenticates the peer and picks the connection mode; nil
	// speaks auth none in crc mode.
	Auth Auth
	// AuthFailed, when set, hears of every authentication failure: the
	// session's own (wrapping ErrAuth) and each refusal of a peer's
	// method that leaves the peer free to offer another.
	AuthFailed func(error)
}

// Engine is one connection's msgr2 session state. It is not safe for
// concurrent use: one goroutine (the connection's worker or reader) feeds it,
// and sends are encoded by that goroutine or under the caller's lock.
type Engine struct {
	cfg    Config
	sink   Sink
	state  State
	err    error
	rev    msgr2.Revision
	fr     msgr2.FrameReader
	out    []byte
	policy gomsgr.Policy

	peerType     msgr2.EntityType
	peerName     msgr2.EntityName
	peerAddrs    msgr2.AddrVec
	peerFeatures uint64
	features     uint64
	globalID     uint64
	learnedAddr  msgr2.EntityAddr

	// The session, kept across sockets (Ceph's ProtocolV2 fields).
	clientCookie uint64
	serverCookie uint64
	gseq         uint64 // global_seq of our latest connect attempt
	peerGSeq     uint64 // peer_global_seq
	connectSeq   uint64
	reconnecting bool     // client: SESSION_RECONNECT sent
	replace      *Request // server: the request a VerdictReplace took
	verdict      Verdict

	outSeq   uint64 // last seq assigned to an outgoing message
	inSeq    uint64 // last seq received
	ackedOut uint64 // last inSeq we told the peer about

	keepaliveStamp msgr2.UTime // last KEEPALIVE2_ACK received

	auth authState       // this socket's authentication
	tx   *msgr2.SecureTx // secure mode: seals what we send (fr.Secure opens)

	// payload scratch, reused so that steady-state frames decode without
	// allocating
	ack     msgr2.Ack
	ka      msgr2.Keepalive2
	kaAck   msgr2.Keepalive2Ack
	hdr     msgr2.MsgHeader2
	dups    uint64
	skipped uint64 // messages missing in gaps of the received seqs
	stopped bool   // a Stop step froze the session
	stepErr error  // a Fail step hit while sending
}

// Duplicates returns how many received messages were dropped because their
// seq was not past the last one delivered.
func (e *Engine) Duplicates() uint64 { return e.dups }

// Skipped returns how many messages were missing in gaps of the received
// seqs (a message with seq 7 after seq 4 counts 2).
func (e *Engine) Skipped() uint64 { return e.skipped }

// New returns an engine that reports to sink. Call Start to queue the banner.
func New(cfg Config, sink Sink) *Engine {
	e := &Engine{cfg: cfg, sink: sink}
	e.fr.MaxSegmentBytes = cfg.MaxSegmentBytes
	if cfg.Role == Client {
		e.peerType = cfg.PeerType
		e.policy = e.policyFor(cfg.PeerType)
	}
	return e
}

func (e *Engine) policyFor(t msgr2.EntityType) gomsgr.Policy {
	if e.cfg.Policy == nil {
		return gomsgr.Policy{}
	}
	return e.cfg.Policy(t)
}

func (e *Engine) banner() msgr2.Banner {
	if e.cfg.NoRevision1 {
		return msgr2.Banner{}
	}
	return msgr2.LocalBanner
}

// Start queues the local banner; both sides send theirs at once.
func (e *Engine) Start() {
	if e.cfg.Role == Client {
		e.gseq = e.nextGlobalSeq(0)
	}
	if err := e.step(StepSendBanner); err != nil {
		e.closeWith(err)
		return
	}
	if e.stopped {
		return
	}
	e.auth.reset()
	start := len(e.out)
	e.out = msgr2.AppendBanner(e.out, e.banner())
	e.auth.recordTx(e.out[start:])
}

// Restart prepares the engine for a new socket of the same session (Ceph's
// reconnect): the framing starts over at the banner while cookies and
// sequence numbers are kept, so that a client with a server cookie asks
// for its session back with SESSION_RECONNECT. Role and peer address are
// those of the new socket (an accepted connection reconnects as a client
// to the peer's advertised address). Call Start next.
func (e *Engine) Restart(role Role, peerAddr msgr2.EntityAddr) {
	e.cfg.Role = role
	e.cfg.PeerAddr = peerAddr
	if role == Client {
		e.cfg.PeerType = e.peerType
	}
	e.state, e.err, e.stopped, e.stepErr = StateBanner, nil, false, nil
	e.rev = 0
	e.fr = msgr2.FrameReader{MaxSegmentBytes: e.cfg.MaxSegmentBytes}
	e.tx = nil
	e.out = e.out[:0]
	e.reconnecting, e.replace, e.verdict = false, nil, Verdict{}
}

// Faulted records a fault of a lossless session before it reconnects: the
// connect_seq moves on when there is a session to reconnect to (Ceph's
// _fault).
func (e *Engine) Faulted() {
	if e.serverCookie != 0 {
		e.connectSeq++
	}
}

// Requeued records that n written but unacknowledged messages went back to
// the front of the out-queue: their sequence numbers will be assigned
// again, in the same order (Ceph's requeue_sent).
func (e *Engine) Requeued(n int) { e.outSeq -= uint64(n) }

// Snapshot returns what the decision table needs to know about this
// session, for a messenger deciding on another connection's request.
func (e *Engine) Snapshot() Existing {
	return Existing{
		Lossy:         e.policy.Lossy,
		Server:        e.policy.Server,
		ClientCookie:  e.clientCookie,
		ServerCookie:  e.serverCookie,
		PeerGlobalSeq: e.peerGSeq,
		ConnectSeq:    e.connectSeq,
	}
}

// Cookies returns the session's client and server cookies.
func (e *Engine) Cookies() (client, server uint64) { return e.clientCookie, e.serverCookie }

// ConnectSeq returns the session's connect_seq.
func (e *Engine) ConnectSeq() uint64 { return e.connectSeq }

// State returns where the session is.
func (e *Engine) State() State { return e.state }

// Err returns the error that closed the session, if any.
func (e *Engine) Err() error { return e.err }

// Output returns the control bytes waiting to be written. They stay there
// until Advance drops them.
func (e *Engine) Output() []byte { return e.out }

// Advance drops the first n bytes of Output, once they are written.
func (e *Engine) Advance(n int) {
	if n >= len(e.out) {
		e.out = e.out[:0]
		return
	}
	e.out = append(e.out[:0], e.out[n:]...)
}

// Revision returns the negotiated frame revision (valid once past the
// banner).
func (e *Engine) Revision() msgr2.Revision { return e.rev }

// Peer returns what the handshake told about the peer.
func (e *Engine) Peer() (name msgr2.EntityName, addrs msgr2.AddrVec, features uint64) {
	return e.peerName, e.peerAddrs, e.peerFeatures
}

// PeerType returns the peer's entity type (known after HELLO on a server).
func (e *Engine) PeerType() msgr2.EntityType { return e.peerType }

// Features returns the Ceph features both sides support.
func (e *Engine) Features() uint64 { return e.features }

// Policy returns the policy in force for the peer (known after HELLO on a
// server).
func (e *Engine) Policy() gomsgr.Policy { return e.policy }

// LearnedAddr returns our address as the peer saw it (from its HELLO).
func (e *Engine) LearnedAddr() msgr2.EntityAddr { return e.learnedAddr }

// InSeq returns the sequence number of the last message received.
func (e *Engine) InSeq() uint64 { return e.inSeq }

// OutSeq returns the sequence number of the last message encoded.
func (e *Engine) OutSeq() uint64 { return e.outSeq }

// LastKeepaliveAck returns the stamp of the last KEEPALIVE2_ACK received.
func (e *Engine) LastKeepaliveAck() msgr2.UTime { return e.keepaliveStamp }

// closeWith closes the session with err; a session closed already keeps
// its first error.
func (e *Engine) closeWith(err error) {
	if e.state != StateClosed {
		e.state = StateClosed
		e.err = err
		if errors.Is(err, ErrAuth) {
			e.authFailed(err)
		}
	}
}

// fail closes the session with err and returns the session's error: err,
// or the first one if it was closed already.
func (e *Engine) fail(err error) error {
	e.closeWith(err)
	return e.err
}

// Close marks the session closed; further input is refused.
func (e *Engine) Close(err error) {
	if err == nil {
		err = gomsgr.ErrClosed
	}
	e.closeWith(err)
}

// Feed processes as much of b as forms complete items (the banner, then
// frames) and returns how many bytes it consumed. When b ends inside an
// item, need is that item's total size, so the caller can make room for it
// (items larger than the caller's buffer are possible: a MESSAGE frame up to
// the segment limit). An error closes the session.
func (e *Engine) Feed(b []byte) (n, need int, err error) {
	for e.state != StateClosed && !e.stopped {
		if e.state == StateBanner {
			banner, bn, err := msgr2.ParseBanner(b[n:])
			if err == msgr2.ErrShort {
				return n, bn, nil
			}
			if err != nil {
				return n, 0, e.fail(err)
			}
			e.auth.recordRx(b[n : n+bn])
			n += bn
			if err := e.step(StepRecvBanner); err != nil {
				return n, 0, e.fail(err)
			}
			if e.stopped {
				return n, 0, nil
			}
			if err := e.handleBanner(banner); err != nil {
				return n, 0, err
			}
			if e.stepErr != nil {
				return n, 0, e.fail(e.stepErr)
			}
			continue
		}
		f, fn, err := e.fr.Decode(b[n:])
		if err == msgr2.ErrShort {
			return n, fn, nil
		}
		if err != nil {
			return n, 0, e.fail(err)
		}
		e.auth.recordRx(b[n : n+fn])
		n += fn
		if f.Aborted {
			continue // the sender aborted the frame: drop it
		}
		if e.cfg.Step != nil {
			if err := e.step(recvSteps[f.Tag()]); err != nil {
				return n, 0, e.fail(err)
			}
			if e.stopped {
				return n, 0, nil
			}
		}
		if err := e.handleFrame(&f); err != nil {
			return n, 0, e.fail(err)
		}
		if e.stepErr != nil {
			return n, 0, e.fail(e.stepErr)
		}
	}
	if e.stopped {
		return n, 0, nil
	}
	return n, 0, e.err
}

func (e *Engine) handleBanner(peer msgr2.Banner) error {
	agreed, err := msgr2.Negotiate(e.banner(), peer)
	if err != nil {
		return e.fail(err)
	}
	e.rev = msgr2.RevisionFor(agreed)
	e.fr.Rev = e.rev
	e.state = StateHello
	e.send(&msgr2.Hello{EntityType: e.cfg.Name.Type, PeerAddr: e.cfg.PeerAddr})
	return nil
}

func (e *Engine) send(p msgr2.Payload) {
	if e.cfg.Step != nil {
		if err := e.step(sendSteps[p.Tag()]); err != nil && e.stepErr == nil {
			e.stepErr = err
		}
		if e.stopped || e.stepErr != nil {
			return
		}
	}
	start := len(e.out)
	if e.tx != nil {
		out, err := e.tx.AppendControl(e.out, p)
		if err != nil && e.stepErr == nil {
			e.stepErr = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		e.out = out
		return
	}
	e.out = msgr2.AppendControl(e.out, e.rev, p)
	e.auth.recordTx(e.out[start:])
}

func (e *Engine) handleFrame(f *msgr2.Frame) error {
	tag := f.Tag()
	if e.state == StateReady {
		return e.handleReady(tag, f)
	}
	// Handshake: each state accepts exactly its frame.
	switch {
	case e.state == StateHello && tag == msgr2.TagHello:
		return e.handleHello(f)
	case e.state == StateAuth && e.cfg.Role == Server:
		return e.handleAuthServer(tag, f)
	case e.state == StateAuth && e.cfg.Role == Client:
		return e.handleAuthClient(tag, f)
	case e.state == StateAuthSig && tag == msgr2.TagAuthSignature:
		return e.handleAuthSignature(f)
	case e.state == StateIdent && e.cfg.Role == Server && tag == msgr2.TagClientIdent:
		return e.handleClientIdent(f)
	case e.state == StateIdent && e.cfg.Role == Client && tag == msgr2.TagServerIdent:
		return e.handleServerIdent(f)
	case e.state == StateIdent && e.cfg.Role == Client && tag == msgr2.TagIdentMissingFeatures:
		var m msgr2.IdentMissingFeatures
		if err := m.DecodePayload(f.Payload()); err != nil {
			return err
		}
		return fmt.Errorf("%w: the server requires features %#x we lack", ErrMissingFeatures, m.Features)
	case e.state == StateIdent && e.cfg.Role == Server && tag == msgr2.TagSessionReconnect:
		return e.handleReconnect(f)
	case e.state == StateIdent && e.cfg.Role == Client && tag == msgr2.TagWait:
		if e.reconnecting {
			return fmt.Errorf("%w (reconnecting)", ErrWait)
		}
		return fmt.Errorf("%w (connecting)", ErrWait)
	case e.state == StateIdent && e.cfg.Role == Client && e.reconnecting:
		switch tag {
		case msgr2.TagSessionReconnectOK:
			return e.handleReconnectOK(f)
		case msgr2.TagSessionRetry:
			var r msgr2.SessionRetry
			if err := r.DecodePayload(f.Payload()); err != nil {
				return err
			}
			e.connectSeq = r.ConnectSeq + 1
			e.sendReconnect()
			return nil
		case msgr2.TagSessionRetryGlobal:
			var r msgr2.SessionRetryGlobal
			if err := r.DecodePayload(f.Payload()); err != nil {
				return err
			}
			e.gseq = e.nextGlobalSeq(r.GlobalSeq)
			e.sendReconnect()
			return nil
		case msgr2.TagSessionReset:
			var r msgr2.SessionReset
			if err := r.DecodePayload(f.Payload()); err != nil {
				return err
			}
			if r.Full {
				e.resetSession()
			} else {
				e.serverCookie, e.connectSeq, e.inSeq, e.ackedOut = 0, 0, 0, 0
			}
			e.reconnecting = false
			e.sendClientIdent()
			return nil
		}
	}
	return fmt.Errorf("%w: %v frame in state %v (%v)", ErrProtocol, tag, e.state, e.cfg.Role)
}

func (e *Engine) handleHello(f *msgr2.Frame) error {
	var h msgr2.Hello
	if err := h.DecodePayload(f.Payload()); err != nil {
		return err
	}
	if e.cfg.Role == Client {
		if h.EntityType != e.cfg.PeerType {
			return fmt.Errorf("%w: dialled %v, peer is %v", ErrPeerType, e.cfg.PeerType, h.EntityType)
		}
	} else {
		e.peerType = h.EntityType
		e.policy = e.policyFor(h.EntityType)
	}
	e.learnedAddr = h.PeerAddr
	e.state = StateAuth
	if e.cfg.Role == Client {
		return e.sendAuthRequest(nil)
	}
	return nil
}

// authPayload is the auth-none request: the monitor's AUTH_MODE_MON form for
// a mon, and AuthNone's authorizer (u8 version 1, entity name, global id)
// for everyone else.
func (e *Engine) authPayload() []byte {
	id := e.cfg.AuthID
	if id == "" {
		if e.cfg.Name.Num >= 0 {
			id = fmt.Sprint(e.cfg.Name.Num)
		} else {
			id = "admin"
		}
	}
	name := msgr2.AuthName{Type: e.cfg.Name.Type, ID: id}
	if e.cfg.PeerType == msgr2.EntityMon {
		r := msgr2.MonAuthRequest{Name: name}
		return r.Append(nil)
	}
	b := msgr2.AppendU8(nil, 1)
	b = msgr2.AppendAuthName(b, name)
	return msgr2.AppendU64(b, e.globalID)
}

func (e *Engine) handleAuthSignature(f *msgr2.Frame) error {
	if err := e.checkSignature(f); err != nil {
		return err
	}
	e.state = StateIdent
	if e.cfg.Role == Client {
		if e.serverCookie == 0 {
			e.sendClientIdent()
		} else {
			e.reconnecting = true
			e.sendReconnect()
		}
	}
	return nil
}

func (e *Engine) sendClientIdent() {
	if !e.policy.Lossy && e.clientCookie == 0 {
		e.clientCookie = e.newCookie()
	}
	var flags uint64
	if e.policy.Lossy {
		flags |= msgr2.IdentLossy
	}
	e.send(&msgr2.ClientIdent{
		Addrs:             e.myAddrs(),
		TargetAddr:        e.cfg.PeerAddr,
		GlobalID:          e.cfg.Name.Num,
		GlobalSeq:         e.gseq,
		SupportedFeatures: e.supported(),
		RequiredFeatures:  e.required(),
		Flags:             flags,
		Cookie:            e.clientCookie,
	})
}

func (e *Engine) sendReconnect() {
	e.send(&msgr2.SessionReconnect{
		Addrs:        e.myAddrs(),
		ClientCookie: e.clientCookie,
		ServerCookie: e.serverCookie,
		GlobalSeq:    e.gseq,
		ConnectSeq:   e.connectSeq,
		MsgSeq:       e.inSeq,
	})
}

func (e *Engine) newCookie() uint64 {
	if e.cfg.NewCookie != nil {
		return e.cfg.NewCookie()
	}
	return rand.Uint64() | 1
}

func (e *Engine) myAddrs() msgr2.AddrVec {
	if len(e.cfg.Addrs) > 0 {
		return e.cfg.Addrs
	}
	a := msgr2.EntityAddr{Type: msgr2.AddrAny, Nonce: e.cfg.Nonce}
	if e.learnedAddr.Addr.IsValid() {
		a.Addr = netip.AddrPortFrom(e.learnedAddr.Addr.Addr(), 0)
	}
	return msgr2.AddrVec{a}
}

func (e *Engine) nextGlobalSeq(past uint64) uint64 {
	if e.cfg.GlobalSeq == nil {
		return past + 1
	}
	return e.cfg.GlobalSeq(past)
}

func (e *Engine) supported() uint64 {
	if e.policy.FeaturesSupported != 0 {
		return e.policy.FeaturesSupported
	}
	return FeaturesPacific
}

func (e *Engine) required() uint64 { return e.policy.FeaturesRequired | FeatureMsgAddr2 }

func (e *Engine) handleClientIdent(f *msgr2.Frame) error {
	var ci msgr2.ClientIdent
	if err := ci.DecodePayload(f.Payload()); err != nil {
		return err
	}
	if missing := e.required() &^ ci.SupportedFeatures; missing != 0 {
		e.send(&msgr2.IdentMissingFeatures{Features: missing})
		return fmt.Errorf("%w: client lacks %#x", ErrMissingFeatures, missing)
	}
	if missing := ci.RequiredFeatures &^ e.supported(); missing != 0 {
		return fmt.Errorf("%w: client requires %#x we lack", ErrMissingFeatures, missing)
	}
	e.adoptPeer(ci.GlobalID, ci.Addrs, ci.SupportedFeatures, ci.GlobalSeq)
	e.clientCookie = ci.Cookie
	if ci.Flags&msgr2.IdentLossy != 0 && !e.policy.Lossy {
		// The client says it is lossy: treat the session as lossy, as
		// Ceph does (connection policy follows the client's flag).
		e.policy.Lossy = true
	}
	req := Request{Addrs: ci.Addrs, ClientCookie: ci.Cookie, GlobalSeq: ci.GlobalSeq}
	return e.answer(&req)
}

func (e *Engine) handleReconnect(f *msgr2.Frame) error {
	var r msgr2.SessionReconnect
	if err := r.DecodePayload(f.Payload()); err != nil {
		return err
	}
	e.peerAddrs = r.Addrs
	e.peerGSeq = r.GlobalSeq
	req := Request{Reconnect: true, Addrs: r.Addrs, ClientCookie: r.ClientCookie, ServerCookie: r.ServerCookie,
		GlobalSeq: r.GlobalSeq, ConnectSeq: r.ConnectSeq, MsgSeq: r.MsgSeq}
	return e.answer(&req)
}

// answer decides a session request with the sink (or, without a
// SessionSink, as a messenger with no existing session) and acts on it.
func (e *Engine) answer(req *Request) error {
	var v Verdict
	if ss, ok := e.sink.(SessionSink); ok {
		v = ss.Existing(req)
	} else if req.Reconnect {
		v = Verdict{Kind: VerdictReset, Full: true}
	}
	e.verdict = v
	switch v.Kind {
	case VerdictNew:
		if req.Reconnect {
			return fmt.Errorf("%w: a new session for SESSION_RECONNECT", ErrProtocol)
		}
		e.sendServerIdent()
		return e.becomeReady()
	case VerdictReplace:
		e.replace = req
		if req.Reconnect {
			return fmt.Errorf("%w (reconnect)", ErrReplaced)
		}
		return fmt.Errorf("%w (ident)", ErrReplaced)
	case VerdictReset:
		e.send(&msgr2.SessionReset{Full: v.Full})
	case VerdictRetry:
		e.send(&msgr2.SessionRetry{ConnectSeq: v.Seq})
	case VerdictRetryGlobal:
		e.send(&msgr2.SessionRetryGlobal{GlobalSeq: v.Seq})
	case VerdictWait:
		e.send(&msgr2.Wait{})
	case VerdictStop:
		return fmt.Errorf("%w: peer global_seq %d is older than the existing session's", ErrStale, req.GlobalSeq)
	}
	return nil // the client answers with another request or closes
}

// sendServerIdent opens a new session with the peer (Ceph's
// send_server_ident).
func (e *Engine) sendServerIdent() {
	e.inSeq, e.ackedOut = 0, 0
	if !e.policy.Lossy {
		e.serverCookie = e.newCookie()
	}
	var flags uint64
	if e.policy.Lossy {
		flags |= msgr2.IdentLossy
	}
	e.send(&msgr2.ServerIdent{
		Addrs:             e.cfg.Addrs,
		GlobalID:          e.cfg.Name.Num,
		GlobalSeq:         e.nextGlobalSeq(0),
		SupportedFeatures: e.supported(),
		RequiredFeatures:  e.required(),
		Flags:             flags,
		Cookie:            e.serverCookie,
	})
}

// Replacement returns the request whose socket goes to the existing
// session after Feed failed with ErrReplaced, and the verdict.
func (e *Engine) Replacement() (*Request, Verdict) { return e.replace, e.verdict }

// Verdict returns the last decision taken on a session request (server).
func (e *Engine) Verdict() Verdict { return e.verdict }

// Resume continues this (existing) session on the socket of the
// connection whose engine from took the request req with a VerdictReplace:
// the engine becomes the server side of the handshake, past the
// authentication, and answers SERVER_IDENT (a new session) or RECONNECT_OK.
// The caller has requeued the unacknowledged messages (Requeued) first.
func (e *Engine) Resume(from *Engine, req *Request, v Verdict) error {
	e.cfg.Role = Server
	e.state, e.err, e.stopped, e.stepErr = StateIdent, nil, false, nil
	e.rev = from.rev
	// The socket's keys and nonces come with it.
	e.fr = msgr2.FrameReader{Rev: from.rev, MaxSegmentBytes: e.cfg.MaxSegmentBytes, Secure: from.fr.Secure}
	e.tx = from.tx
	e.out = e.out[:0]
	e.reconnecting = false
	e.peerType, e.policy, e.learnedAddr = from.peerType, from.policy, from.learnedAddr
	e.auth, from.auth = from.auth, authState{} // the new socket's keys and mode
	e.peerAddrs, e.peerGSeq = from.peerAddrs, from.peerGSeq
	if v.ResetExisting {
		e.resetSession()
	}
	if !req.Reconnect {
		e.clientCookie = from.clientCookie
		e.peerName, e.peerFeatures, e.features = from.peerName, from.peerFeatures, from.features
		if ss, ok := e.sink.(SessionSink); ok {
			if _, left := ss.DiscardRequeued(0); !left {
				e.outSeq = 0 // nothing to replay: the new session starts at 1
			}
		}
		e.sendServerIdent()
	} else {
		e.connectSeq = req.ConnectSeq
		if ss, ok := e.sink.(SessionSink); ok {
			n, _ := ss.DiscardRequeued(req.MsgSeq)
			e.outSeq += uint64(n)
		}
		e.send(&msgr2.SessionReconnectOK{MsgSeq: e.inSeq})
	}
	if e.stepErr != nil {
		return e.fail(e.stepErr)
	}
	if err := e.becomeReady(); err != nil {
		return e.fail(err)
	}
	return nil
}

func (e *Engine) handleReconnectOK(f *msgr2.Frame) error {
	var ok msgr2.SessionReconnectOK
	if err := ok.DecodePayload(f.Payload()); err != nil {
		return err
	}
	if ss, yes := e.sink.(SessionSink); yes {
		n, _ := ss.DiscardRequeued(ok.MsgSeq)
		e.outSeq += uint64(n)
	}
	e.reconnecting = false
	return e.becomeReady()
}

// resetSession starts the session over: queues discarded, sequence
// numbers and cookies zeroed, a remote reset reported (Ceph's
// reset_session).
func (e *Engine) resetSession() {
	if ss, ok := e.sink.(SessionSink); ok {
		ss.ResetSession()
	}
	e.outSeq, e.inSeq, e.ackedOut = 0, 0, 0
	e.clientCookie, e.serverCookie, e.connectSeq, e.peerGSeq = 0, 0, 0, 0
}

func (e *Engine) handleServerIdent(f *msgr2.Frame) error {
	var si msgr2.ServerIdent
	if err := si.DecodePayload(f.Payload()); err != nil {
		return err
	}
	if missing := si.RequiredFeatures &^ e.supported(); missing != 0 {
		return fmt.Errorf("%w: server requires %#x we lack", ErrMissingFeatures, missing)
	}
	e.adoptPeer(si.GlobalID, si.Addrs, si.SupportedFeatures, si.GlobalSeq)
	e.serverCookie = si.Cookie
	e.policy.Lossy = si.Flags&msgr2.IdentLossy != 0
	return e.becomeReady()
}

// adoptPeer records what the peer's ident frame says about it.
func (e *Engine) adoptPeer(globalID int64, addrs msgr2.AddrVec, supported, gseq uint64) {
	e.peerName = msgr2.EntityName{Type: e.peerType, Num: globalID}
	e.peerAddrs = addrs
	e.peerFeatures = supported
	e.features = e.supported() & supported
	e.peerGSeq = gseq
}

// becomeReady ends the handshake: unless a step hook failed or froze it,
// the sink learns the session is open.
func (e *Engine) becomeReady() error {
	e.state = StateReady
	if e.stepErr != nil {
		return e.stepErr
	}
	if err := e.step(StepReady); err != nil || e.stopped {
		return err
	}
	e.sink.Ready(e)
	return nil
}

func (e *Engine) handleReady(tag msgr2.Tag, f *msgr2.Frame) error {
	switch tag {
	case msgr2.TagMessage:
		return e.handleMessage(f)
	case msgr2.TagAck:
		if err := e.ack.DecodePayload(f.Payload()); err != nil {
			return err
		}
		e.sink.Acked(e.ack.Seq)
		return nil
	case msgr2.TagKeepalive2:
		if err := e.ka.DecodePayload(f.Payload()); err != nil {
			return err
		}
		e.kaAck.Stamp = e.ka.Stamp
		e.send(&e.kaAck)
		return nil
	case msgr2.TagKeepalive2Ack:
		if err := e.kaAck.DecodePayload(f.Payload()); err != nil {
			return err
		}
		e.keepaliveStamp = e.kaAck.Stamp
		return nil
	}
	return fmt.Errorf("%w: %v frame on an open session", ErrProtocol, tag)
}

func (e *Engine) handleMessage(f *msgr2.Frame) error {
	var err error
	var front, middle, data []byte
	e.hdr, front, middle, data, err = msgr2.DecodeMessage(f)
	if err != nil {
		return err
	}
	h := &e.hdr // a field, so that passing it to the sink does not allocate
	if h.Seq <= e.inSeq {
		// A duplicate (replayed after a reconnect): drop it.
		e.dups++
		return nil
	}
	if h.Seq != e.inSeq+1 {
		// Ceph's "missed message?": count the gap; fail only when asked.
		e.skipped += h.Seq - e.inSeq - 1
		if e.cfg.FailOnSkippedMessage {
			return fmt.Errorf("%w: skipped from seq %d to %d", ErrSkippedMessage, e.inSeq, h.Seq)
		}
	}
	e.inSeq = h.Seq
	if h.AckSeq != 0 {
		e.sink.Acked(h.AckSeq)
	}
	return e.sink.Deliver(h, front, middle, data)
}

// PrepareMessage fills the sequence and ack fields of h for the next
// outgoing message. The caller encodes the MESSAGE frame with Revision().
func (e *Engine) PrepareMessage(h *msgr2.MsgHeader2) {
	e.outSeq++
	h.Seq = e.outSeq
	h.AckSeq = e.inSeq
	e.ackedOut = e.inSeq
}

// AckPending reports whether messages were received that the peer has not
// been told about; QueueAck then queues a standalone ACK.
func (e *Engine) AckPending() bool { return e.state == StateReady && e.inSeq > e.ackedOut }

// QueueAck appends an ACK of everything received to the output.
func (e *Engine) QueueAck() {
	if !e.AckPending() {
		return
	}
	e.ack.Seq = e.inSeq
	e.send(&e.ack)
	e.ackedOut = e.inSeq
}

// QueueKeepalive appends a KEEPALIVE2 stamped now to the output.
func (e *Engine) QueueKeepalive(now time.Time) {
	if e.state != StateReady {
		return
	}
	e.ka.Stamp = msgr2.UTimeOf(now)
	e.send(&e.ka)
}
