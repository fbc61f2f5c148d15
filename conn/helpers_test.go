package conn_test

import (
	"testing"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

func centerCfg(driver string) center.Config { return center.Config{Driver: driver} }

// newMsgr returns a messenger shut down when the test ends.
func newMsgr(t *testing.T, o conn.Options) *conn.Messenger {
	t.Helper()
	return msgrtest.New(t, conn.NewMessenger, o)
}

// waitFor waits until cond holds, or fails the test after d.
var waitFor = msgrtest.WaitUntil

// dthrCur and dthrMax read a messenger's dispatch throttle.
func dthrCur(m interface{ DispatchThrottleBytes() (int64, int64) }) int64 {
	c, _ := m.DispatchThrottleBytes()
	return c
}
func dthrMax(m interface{ DispatchThrottleBytes() (int64, int64) }) int64 {
	_, x := m.DispatchThrottleBytes()
	return x
}
