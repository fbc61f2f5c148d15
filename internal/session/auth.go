package session

import (
	"crypto/hmac"
	"fmt"
	"slices"

	"github.com/gomsgr/gomsgr/msgr2"
)

// maxTranscriptBytes bounds the pre-auth bytes an engine records for
// AUTH_SIGNATURE. Handshake frames are bounded by the reader's prefetch
// size; a peer that keeps the exchange going (AUTH_REPLY_MORE after
// AUTH_REPLY_MORE) is cut off here.
const maxTranscriptBytes = 256 << 10

// maxAuthRefusals is how many AUTH_REQUESTs a server refuses (method or
// mode not allowed) before it closes the connection; a client offers each
// of its methods once.
const maxAuthRefusals = 4

// Auth is the messenger's authentication configuration as the engine sees
// it (Ceph's AuthClient and AuthServer with their AuthRegistry). Package
// auth implements it; a nil Config.Auth speaks auth none in crc mode.
type Auth interface {
	// Methods lists the auth methods for a peer of type t, preferred
	// first: a client offers them in turn, a server accepts only them
	// (Ceph's auth_client_required, auth_service_required and
	// auth_cluster_required).
	Methods(r Role, t msgr2.EntityType) []msgr2.AuthMethod
	// Modes lists the connection modes for a peer of type t, preferred
	// first (Ceph's ms_client_mode, ms_service_mode, ms_mon_client_mode,
	// ...): a client sends them in AUTH_REQUEST, a server picks the first
	// of the client's list that it allows.
	Modes(r Role, t msgr2.EntityType) []msgr2.ConMode
	// Client starts one connection's client side of method with a peer
	// of type t. The engine runs auth none itself: method is never
	// AuthNone.
	Client(method msgr2.AuthMethod, t msgr2.EntityType) (AuthClient, error)
	// Server starts one connection's server side of method with a peer
	// of type t (never AuthNone).
	Server(method msgr2.AuthMethod, t msgr2.EntityType) (AuthServer, error)
}

// AuthClient is the client side of one connection's auth exchange
// (Ceph's AuthClientHandler behind MonClient::get_auth_request).
type AuthClient interface {
	// Request returns the AUTH_REQUEST payload.
	Request() ([]byte, error)
	// More answers an AUTH_REPLY_MORE payload with the AUTH_REQUEST_MORE
	// payload.
	More(reply []byte) ([]byte, error)
	// Done checks the AUTH_DONE payload and returns the session key and
	// connection secret it carries.
	Done(globalID uint64, mode msgr2.ConMode, payload []byte) (AuthResult, error)
}

// AuthServer is the server side of one connection's auth exchange (Ceph's
// AuthServer::handle_auth_request).
type AuthServer interface {
	// Handle processes the AUTH_REQUEST payload (first call) or an
	// AUTH_REQUEST_MORE payload. Unless done, reply goes back in
	// AUTH_REPLY_MORE; once done, it is AUTH_DONE's payload and res says
	// what was agreed. An error refuses the peer: it is told with
	// AUTH_BAD_METHOD and the connection closes.
	Handle(payload []byte, mode msgr2.ConMode) (reply []byte, done bool, res AuthResult, err error)
}

// AuthResult is what an auth exchange agreed.
type AuthResult struct {
	// SessionKey keys the AUTH_SIGNATURE HMACs (empty for auth none: the
	// signatures are then zeros).
	SessionKey []byte
	// Secret is the connection secret: 64 bytes in secure mode, empty in
	// crc mode.
	Secret []byte
	// GlobalID is the peer's global id, assigned by the server.
	GlobalID uint64
	// Peer is the authenticated entity ("client.admin"), server side.
	Peer string
}

// authState is one socket's authentication: the handler in use, what it
// agreed, and the pre-auth transcript that AUTH_SIGNATURE covers.
type authState struct {
	method  msgr2.AuthMethod
	mode    msgr2.ConMode
	tried   []msgr2.AuthMethod // client: methods offered so far
	client  AuthClient
	server  AuthServer
	result  AuthResult
	more    bool // server: AUTH_REPLY_MORE sent, AUTH_REQUEST_MORE expected
	refused int  // server: AUTH_REQUESTs refused so far
	rec     bool // recording the transcript
	rx, tx  []byte
	overrun bool
}

// reset starts a new socket's authentication, recording from its banner.
func (a *authState) reset() {
	*a = authState{rec: true, rx: a.rx[:0], tx: a.tx[:0], tried: a.tried[:0]}
}

func (a *authState) recordRx(b []byte) {
	if a.rec {
		a.rx, a.overrun = appendBounded(a.rx, b, a.overrun)
	}
}

func (a *authState) recordTx(b []byte) {
	if a.rec {
		a.tx, a.overrun = appendBounded(a.tx, b, a.overrun)
	}
}

func appendBounded(dst, b []byte, over bool) ([]byte, bool) {
	if len(dst)+len(b) > maxTranscriptBytes {
		return dst, true
	}
	return append(dst, b...), over
}

// AuthMethod returns the auth method of the session's socket.
func (e *Engine) AuthMethod() msgr2.AuthMethod { return e.auth.method }

// ConMode returns the connection mode of the session's socket (crc or
// secure), once authenticated.
func (e *Engine) ConMode() msgr2.ConMode { return e.auth.mode }

// SecureTx returns the sealing state of a secure-mode session (nil in crc
// mode): the frame writer seals MESSAGE frames with it, in the order they
// are written, after the control frames taken from Output before them.
func (e *Engine) SecureTx() *msgr2.SecureTx { return e.tx }

// PeekFrame reads the preamble of the frame at the start of b without
// consuming it, and returns its total size on the wire. In secure mode it
// opens the frame's first record in place (once: Feed finds it open), so
// b must be the buffer Feed is given next. A short b gives msgr2.ErrShort.
func (e *Engine) PeekFrame(b []byte) (msgr2.Preamble, int, error) {
	return e.fr.Peek(b)
}

// AuthPeer returns the entity the peer authenticated as (server side, an
// authenticating method; empty for auth none).
func (e *Engine) AuthPeer() string { return e.auth.result.Peer }

// GlobalID returns the global id the server assigned during auth.
func (e *Engine) GlobalID() uint64 { return e.globalID }

func (e *Engine) methods(t msgr2.EntityType) []msgr2.AuthMethod {
	if e.cfg.Auth == nil {
		return []msgr2.AuthMethod{msgr2.AuthNone}
	}
	return e.cfg.Auth.Methods(e.cfg.Role, t)
}

var crcOnly = []msgr2.ConMode{msgr2.ConModeCRC}

// modes returns the connection modes for a peer of type t with method m:
// auth none has no session key, so no secret to encrypt with, and gives
// crc only (when crc is allowed at all).
func (e *Engine) modes(t msgr2.EntityType, m msgr2.AuthMethod) []msgr2.ConMode {
	if e.cfg.Auth == nil {
		return crcOnly
	}
	ms := e.cfg.Auth.Modes(e.cfg.Role, t)
	if m == msgr2.AuthNone {
		if slices.Contains(ms, msgr2.ConModeCRC) {
			return crcOnly
		}
		return nil
	}
	return ms
}

// sendAuthRequest offers the first method not tried yet that allowed
// permits (nil: any of ours).
func (e *Engine) sendAuthRequest(allowed []msgr2.AuthMethod) error {
	var method msgr2.AuthMethod
	for _, m := range e.methods(e.peerType) {
		if !slices.Contains(e.auth.tried, m) && (allowed == nil || slices.Contains(allowed, m)) {
			method = m
			break
		}
	}
	if method == msgr2.AuthUnknown {
		return fmt.Errorf("%w: no other auth method to offer (ours %v, tried %v)",
			ErrAuth, e.methods(e.peerType), e.auth.tried)
	}
	e.auth.tried = append(e.auth.tried, method)
	e.auth.method = method
	var err error
	if e.cfg.Auth == nil || method == msgr2.AuthNone {
		e.auth.client = noneClient{e}
	} else if e.auth.client, err = e.cfg.Auth.Client(method, e.peerType); err != nil {
		return fmt.Errorf("%w: %v: %w", ErrAuth, method, err)
	}
	payload, err := e.auth.client.Request()
	if err != nil {
		return fmt.Errorf("%w: %v request: %w", ErrAuth, method, err)
	}
	e.send(&msgr2.AuthRequest{Method: method, PreferredModes: e.modes(e.peerType, method), Payload: payload})
	return nil
}

// handleAuthClient handles the frames a client reads in StateAuth.
func (e *Engine) handleAuthClient(tag msgr2.Tag, f *msgr2.Frame) error {
	switch tag {
	case msgr2.TagAuthReplyMore:
		var r msgr2.AuthReplyMore
		if err := r.DecodePayload(f.Payload()); err != nil {
			return err
		}
		more, err := e.auth.client.More(r.Payload)
		if err != nil {
			return fmt.Errorf("%w: %v: %w", ErrAuth, e.auth.method, err)
		}
		e.send(&msgr2.AuthRequestMore{Payload: more})
		return nil
	case msgr2.TagAuthDone:
		return e.handleAuthDone(f)
	case msgr2.TagAuthBadMethod:
		var bad msgr2.AuthBadMethod
		if err := bad.DecodePayload(f.Payload()); err != nil {
			return err
		}
		if err := e.sendAuthRequest(bad.AllowedMethods); err != nil {
			return fmt.Errorf("%w: %v refused by the peer: %s (it allows methods %v, modes %v)",
				err, bad.Method, refusal(bad.Result), bad.AllowedMethods, bad.AllowedModes)
		}
		return nil
	}
	return fmt.Errorf("%w: %v frame in state %v (%v)", ErrProtocol, tag, e.state, e.cfg.Role)
}

// refusal names an AUTH_BAD_METHOD result.
func refusal(result int32) string {
	switch result {
	case -13:
		return "permission denied (EACCES: wrong key or unknown entity)"
	case -95:
		return "method or mode not allowed (EOPNOTSUPP)"
	}
	return fmt.Sprintf("result %d", result)
}

func (e *Engine) handleAuthDone(f *msgr2.Frame) error {
	var d msgr2.AuthDone
	if err := d.DecodePayload(f.Payload()); err != nil {
		return err
	}
	if offered := e.modes(e.peerType, e.auth.method); !slices.Contains(offered, d.ConMode) {
		return fmt.Errorf("%w: server chose connection mode %v; we offered %v", ErrAuth, d.ConMode, offered)
	}
	res, err := e.auth.client.Done(d.GlobalID, d.ConMode, d.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v: %w", ErrAuth, e.auth.method, err)
	}
	e.globalID = d.GlobalID
	e.auth.result, e.auth.mode = res, d.ConMode
	return e.sendSignature()
}

// handleAuthServer handles AUTH_REQUEST and AUTH_REQUEST_MORE on a server.
func (e *Engine) handleAuthServer(tag msgr2.Tag, f *msgr2.Frame) error {
	var payload []byte
	switch {
	case tag == msgr2.TagAuthRequest && !e.auth.more:
		var r msgr2.AuthRequest
		if err := r.DecodePayload(f.Payload()); err != nil {
			return err
		}
		if err := e.startServerAuth(&r); err != nil {
			return e.refuse(err)
		}
		payload = r.Payload
	case tag == msgr2.TagAuthRequestMore && e.auth.more:
		var r msgr2.AuthRequestMore
		if err := r.DecodePayload(f.Payload()); err != nil {
			return err
		}
		payload = r.Payload
	default:
		return fmt.Errorf("%w: %v frame in state %v (%v)", ErrProtocol, tag, e.state, e.cfg.Role)
	}
	reply, done, res, err := e.auth.server.Handle(payload, e.auth.mode)
	if err != nil {
		e.badMethod(e.auth.method, -13) // -EACCES, as Ceph's cephx service answers
		return fmt.Errorf("%w: %v peer refused: %w", ErrAuth, e.auth.method, err)
	}
	if !done {
		e.auth.more = true
		e.send(&msgr2.AuthReplyMore{Payload: reply})
		return nil
	}
	e.auth.result = res
	e.globalID = res.GlobalID
	e.send(&msgr2.AuthDone{GlobalID: res.GlobalID, ConMode: e.auth.mode, Payload: reply})
	return e.sendSignature()
}

// refuse answers an AUTH_REQUEST whose method or mode we do not allow: the
// peer has been told (AUTH_BAD_METHOD) and may offer another, as Ceph's
// server lets it, up to maxAuthRefusals times.
func (e *Engine) refuse(err error) error {
	e.auth.refused++
	if e.auth.refused >= maxAuthRefusals {
		return fmt.Errorf("%w (%d requests refused)", err, e.auth.refused)
	}
	e.authFailed(err)
	e.auth.method, e.auth.mode = msgr2.AuthUnknown, msgr2.ConModeUnknown
	return nil
}

func (e *Engine) authFailed(err error) {
	if e.cfg.AuthFailed != nil {
		e.cfg.AuthFailed(err)
	}
}

// startServerAuth checks the method and picks the mode of an AUTH_REQUEST
// (Ceph's pick_con_mode: the first of the client's modes we allow).
func (e *Engine) startServerAuth(r *msgr2.AuthRequest) error {
	e.auth.method = r.Method
	if !slices.Contains(e.methods(e.peerType), r.Method) {
		e.badMethod(r.Method, -95) // -EOPNOTSUPP
		return fmt.Errorf("%w: %v peer asked for method %v; allowed %v", ErrAuth, e.peerType, r.Method, e.methods(e.peerType))
	}
	ours := e.modes(e.peerType, r.Method)
	for _, m := range r.PreferredModes {
		if slices.Contains(ours, m) {
			e.auth.mode = m
			break
		}
	}
	if e.auth.mode == msgr2.ConModeUnknown {
		e.badMethod(r.Method, -95)
		return fmt.Errorf("%w: %v peer asked for modes %v; allowed %v", ErrAuth, e.peerType, r.PreferredModes, ours)
	}
	var err error
	if e.cfg.Auth == nil || r.Method == msgr2.AuthNone {
		e.auth.server = noneServer{}
	} else if e.auth.server, err = e.cfg.Auth.Server(r.Method, e.peerType); err != nil {
		e.badMethod(r.Method, -95)
		return fmt.Errorf("%w: %v: %w", ErrAuth, r.Method, err)
	}
	return nil
}

func (e *Engine) badMethod(m msgr2.AuthMethod, result int32) {
	e.send(&msgr2.AuthBadMethod{
		Method: m, Result: result,
		AllowedMethods: e.methods(e.peerType), AllowedModes: e.modes(e.peerType, msgr2.AuthUnknown),
	})
}

// sendSignature ends the pre-auth recording and sends AUTH_SIGNATURE, the
// HMAC of every byte received so far (Ceph's finish_auth and the end of
// handle_auth_done): the server's AUTH_DONE is the last byte it covers.
func (e *Engine) sendSignature() error {
	if e.auth.overrun {
		return fmt.Errorf("%w: handshake longer than %d bytes", ErrAuth, maxTranscriptBytes)
	}
	sig := msgr2.Signature(e.auth.result.SessionKey, e.auth.rx)
	e.auth.rec = false
	if e.auth.mode == msgr2.ConModeSecure {
		// Everything from here on is sealed, AUTH_SIGNATURE first, in both
		// directions.
		if e.rev == msgr2.Rev0 {
			return fmt.Errorf("%w: secure mode needs msgr2.1 framing; the peer speaks msgr2.0", ErrAuth)
		}
		tx, rx, err := msgr2.NewSecure(e.auth.result.Secret, e.cfg.Role == Client)
		if err != nil {
			return fmt.Errorf("%w: secure mode: %w", ErrAuth, err)
		}
		e.tx, e.fr.Secure = tx, rx
	}
	e.send(&msgr2.AuthSignature{Signature: sig})
	e.state = StateAuthSig
	return nil
}

// checkSignature checks the peer's AUTH_SIGNATURE against the bytes we
// sent (Ceph's handle_auth_signature).
func (e *Engine) checkSignature(f *msgr2.Frame) error {
	var s msgr2.AuthSignature
	if err := s.DecodePayload(f.Payload()); err != nil {
		return err
	}
	want := msgr2.Signature(e.auth.result.SessionKey, e.auth.tx)
	if !hmac.Equal(s.Signature[:], want[:]) {
		return fmt.Errorf("%w: bad AUTH_SIGNATURE (%v, %v)", ErrAuth, e.auth.method, e.auth.mode)
	}
	e.auth.rx, e.auth.tx = e.auth.rx[:0], e.auth.tx[:0]
	return nil
}

// noneClient is auth none's client side: the monitor's AUTH_MODE_MON
// request for a mon, AuthNone's authorizer (u8 version 1, entity name,
// global id) for everyone else.
type noneClient struct{ e *Engine }

func (c noneClient) Request() ([]byte, error) { return c.e.authPayload(), nil }

func (noneClient) More([]byte) ([]byte, error) {
	return nil, fmt.Errorf("auth none has no AUTH_REPLY_MORE")
}

func (noneClient) Done(uint64, msgr2.ConMode, []byte) (AuthResult, error) { return AuthResult{}, nil }

// noneServer accepts every auth none request at once.
type noneServer struct{}

func (noneServer) Handle([]byte, msgr2.ConMode) ([]byte, bool, AuthResult, error) {
	return nil, true, AuthResult{}, nil
}
