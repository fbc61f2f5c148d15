package conn

import "github.com/gomsgr/gomsgr/internal/session"

// Step hooks (Options.Step): the named points of the msgr2 session where a
// test can make the session continue, fail or freeze (Ceph's test_msgr
// interceptors). The types are the session engine's.
type (
	// Role is the side of the handshake (RoleClient dials, RoleServer
	// accepts).
	Role = session.Role
	// Step names a protocol point: send steps come before a frame is
	// queued, receive steps after a frame was decoded and before it is
	// acted on.
	Step = session.Step
	// Action is what a step hook returns.
	Action = session.Action
)

// Roles.
const (
	RoleClient = session.Client
	RoleServer = session.Server
)

// Actions.
const (
	// Continue goes on as if there were no hook.
	Continue = session.Continue
	// Fail faults the session at this point (ErrInjected).
	Fail = session.Fail
	// Stop freezes the session: nothing more is read or written.
	Stop = session.Stop
)

// ErrInjected is the fault a Fail step causes.
var ErrInjected = session.ErrInjected

// The step points.
const (
	StepNone                   = session.StepNone
	StepSendBanner             = session.StepSendBanner
	StepRecvBanner             = session.StepRecvBanner
	StepSendHello              = session.StepSendHello
	StepRecvHello              = session.StepRecvHello
	StepSendAuthRequest        = session.StepSendAuthRequest
	StepRecvAuthRequest        = session.StepRecvAuthRequest
	StepSendAuthDone           = session.StepSendAuthDone
	StepRecvAuthDone           = session.StepRecvAuthDone
	StepSendAuthSignature      = session.StepSendAuthSignature
	StepRecvAuthSignature      = session.StepRecvAuthSignature
	StepSendClientIdent        = session.StepSendClientIdent
	StepRecvClientIdent        = session.StepRecvClientIdent
	StepSendServerIdent        = session.StepSendServerIdent
	StepRecvServerIdent        = session.StepRecvServerIdent
	StepReady                  = session.StepReady
	StepRecvMessage            = session.StepRecvMessage
	StepRecvAck                = session.StepRecvAck
	StepRecvKeepalive          = session.StepRecvKeepalive
	StepSendSessionReconnect   = session.StepSendSessionReconnect
	StepRecvSessionReconnect   = session.StepRecvSessionReconnect
	StepSendReconnectOK        = session.StepSendReconnectOK
	StepRecvReconnectOK        = session.StepRecvReconnectOK
	StepSendSessionReset       = session.StepSendSessionReset
	StepRecvSessionReset       = session.StepRecvSessionReset
	StepSendSessionRetry       = session.StepSendSessionRetry
	StepRecvSessionRetry       = session.StepRecvSessionRetry
	StepSendSessionRetryGlobal = session.StepSendSessionRetryGlobal
	StepRecvSessionRetryGlobal = session.StepRecvSessionRetryGlobal
	StepSendWait               = session.StepSendWait
	StepRecvWait               = session.StepRecvWait
)
