// Package testhooks is what tests use to make a messenger misbehave on
// purpose: step hooks at the session's named protocol points (Ceph's
// test_msgr interceptors), Ceph's ms_inject_* fault injection, and interop
// switches. A messenger takes them in its Options.Testing, which is nil in
// production; nothing here is needed to use gomsgr.
package testhooks

import "github.com/gomsgr/gomsgr/internal/session"

// Config is a messenger's test hooks (Options.Testing in conn and simple).
type Config struct {
	// Step, when set, is called at the session's named step points and
	// may fail or freeze the session there (Ceph's test_msgr
	// interceptors).
	Step func(Role, Step) Action
	// Inject is the fault injection applied from the start (it can be
	// changed while running with the messenger's SetInject).
	Inject Inject
	// NoRevision1 offers msgr2.0 framing only (for interop tests).
	NoRevision1 bool
}

// Step hooks (Config.Step): the named points of the msgr2 session where a
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
