package session

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gomsgr/gomsgr"
)

// TestStepHooks fails or stops the session at every step point, on each
// side, and checks that the session then never becomes ready there and that
// a Fail surfaces as ErrInjected.
func TestStepHooks(t *testing.T) {
	handshake := []Step{StepSendBanner, StepRecvBanner, StepSendHello, StepRecvHello}
	client := append(handshake, StepSendAuthRequest, StepRecvAuthDone, StepSendAuthSignature, StepRecvAuthSignature, StepSendClientIdent, StepRecvServerIdent, StepReady)
	server := append(handshake, StepRecvAuthRequest, StepSendAuthDone, StepSendAuthSignature, StepRecvAuthSignature, StepRecvClientIdent, StepSendServerIdent, StepReady)
	for _, role := range []Role{Client, Server} {
		steps := client
		if role == Server {
			steps = server
		}
		for _, at := range steps {
			for _, act := range []Action{Fail, Stop} {
				t.Run(fmt.Sprintf("%v/%v/%d", role, at, act), func(t *testing.T) {
					c, s, cs, ss := pair(t, gomsgr.LossyClient(0), gomsgr.StatelessServer(0))
					hooked, sink := c, cs
					if role == Server {
						hooked, sink = s, ss
					}
					var hits int
					hooked.cfg.Step = func(r Role, st Step) Action {
						if st == at {
							hits++
							return act
						}
						return Continue
					}
					if at == StepSendBanner {
						// Start already ran in pair: run it again with the hook.
						hooked.out = hooked.out[:0]
						hooked.Start()
					}
					err := pump(t, c, s, 1<<20)
					if hits == 0 {
						t.Fatalf("step %v never reached", at)
					}
					if sink.ready != 0 {
						t.Fatalf("the hooked side became ready despite %v at %v", act, at)
					}
					switch act {
					case Fail:
						if !errors.Is(err, ErrInjected) && !errors.Is(hooked.Err(), ErrInjected) {
							t.Fatalf("Fail at %v: pump %v, engine %v; want ErrInjected", at, err, hooked.Err())
						}
					case Stop:
						if !hooked.Stopped() {
							t.Fatalf("Stop at %v: engine not stopped", at)
						}
					}
				})
			}
		}
	}
}
