package session

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Step names a point of the session where a test can inject a fault (the
// step hooks of Ceph's test_msgr; see docs/ARCHITECTURE.md, "Fault
// injection"). Send steps come before a frame is queued, receive steps after
// a frame was decoded and before it is acted on.
type Step uint8

// The step points, in handshake order.
const (
	StepNone Step = iota
	StepSendBanner
	StepRecvBanner
	StepSendHello
	StepRecvHello
	StepSendAuthRequest
	StepRecvAuthRequest
	StepSendAuthDone
	StepRecvAuthDone
	StepSendAuthSignature
	StepRecvAuthSignature
	StepSendClientIdent
	StepRecvClientIdent
	StepSendServerIdent
	StepRecvServerIdent
	StepReady
	StepRecvMessage
	StepRecvAck
	StepRecvKeepalive
	StepSendSessionReconnect
	StepRecvSessionReconnect
	StepSendReconnectOK
	StepRecvReconnectOK
	StepSendSessionReset
	StepRecvSessionReset
	StepSendSessionRetry
	StepRecvSessionRetry
	StepSendSessionRetryGlobal
	StepRecvSessionRetryGlobal
	StepSendWait
	StepRecvWait
)

var stepNames = [...]string{"none", "send-banner", "recv-banner", "send-hello", "recv-hello",
	"send-auth-request", "recv-auth-request", "send-auth-done", "recv-auth-done",
	"send-auth-signature", "recv-auth-signature", "send-client-ident", "recv-client-ident",
	"send-server-ident", "recv-server-ident", "ready", "recv-message", "recv-ack", "recv-keepalive",
	"send-session-reconnect", "recv-session-reconnect", "send-reconnect-ok", "recv-reconnect-ok",
	"send-session-reset", "recv-session-reset", "send-session-retry", "recv-session-retry",
	"send-session-retry-global", "recv-session-retry-global", "send-wait", "recv-wait"}

// String returns the step's name, e.g. "recv-wait".
func (s Step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("Step(%d)", s)
}

// Action is what a step hook tells the engine to do.
type Action uint8

const (
	// Continue goes on as if there were no hook.
	Continue Action = iota
	// Fail faults the session at this point with ErrInjected.
	Fail
	// Stop freezes the session: nothing more is read or written, as if
	// the peer or the network hung. The connection's timers decide what
	// happens next.
	Stop
)

// ErrInjected is the fault a Fail step hook causes.
var ErrInjected = errors.New("session: injected fault")

var sendSteps = map[msgr2.Tag]Step{
	msgr2.TagHello:         StepSendHello,
	msgr2.TagAuthRequest:   StepSendAuthRequest,
	msgr2.TagAuthDone:      StepSendAuthDone,
	msgr2.TagAuthSignature: StepSendAuthSignature,
	msgr2.TagClientIdent:   StepSendClientIdent,
	msgr2.TagServerIdent:   StepSendServerIdent,

	msgr2.TagSessionReconnect:   StepSendSessionReconnect,
	msgr2.TagSessionReconnectOK: StepSendReconnectOK,
	msgr2.TagSessionReset:       StepSendSessionReset,
	msgr2.TagSessionRetry:       StepSendSessionRetry,
	msgr2.TagSessionRetryGlobal: StepSendSessionRetryGlobal,
	msgr2.TagWait:               StepSendWait,
}

var recvSteps = map[msgr2.Tag]Step{
	msgr2.TagHello:         StepRecvHello,
	msgr2.TagAuthRequest:   StepRecvAuthRequest,
	msgr2.TagAuthDone:      StepRecvAuthDone,
	msgr2.TagAuthSignature: StepRecvAuthSignature,
	msgr2.TagClientIdent:   StepRecvClientIdent,
	msgr2.TagServerIdent:   StepRecvServerIdent,
	msgr2.TagMessage:       StepRecvMessage,
	msgr2.TagAck:           StepRecvAck,
	msgr2.TagKeepalive2:    StepRecvKeepalive,

	msgr2.TagSessionReconnect:   StepRecvSessionReconnect,
	msgr2.TagSessionReconnectOK: StepRecvReconnectOK,
	msgr2.TagSessionReset:       StepRecvSessionReset,
	msgr2.TagSessionRetry:       StepRecvSessionRetry,
	msgr2.TagSessionRetryGlobal: StepRecvSessionRetryGlobal,
	msgr2.TagWait:               StepRecvWait,
}

// step runs the hook at s: it returns ErrInjected for Fail and sets the
// engine stopped for Stop.
func (e *Engine) step(s Step) error {
	if e.cfg.Step == nil || s == StepNone || e.stopped {
		return nil
	}
	switch e.cfg.Step(e.cfg.Role, s) {
	case Fail:
		return fmt.Errorf("%w at %v (%v)", ErrInjected, s, e.cfg.Role)
	case Stop:
		e.stopped = true
	}
	return nil
}

// Stopped reports whether a Stop step hook froze the session.
func (e *Engine) Stopped() bool { return e.stopped }
