package conn_test

import (
	"context"
	"testing"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
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

// must fails t at once if err is not nil: for a step the rest of the test
// depends on. Call it on the test goroutine only; in a dispatcher or
// another goroutine, report with t.Error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// shutdown shuts m down with ctx, failing t on an error without stopping
// it: it is deferred, and may run while the test is already failing.
func shutdown(ctx context.Context, t testing.TB, m *conn.Messenger) {
	t.Helper()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("%s: Shutdown: %v", m.Name(), err)
	}
}

// bothDrivers runs f as a subtest per driver, each checked for leaks.
func bothDrivers(t *testing.T, f func(t *testing.T, d string)) {
	for _, d := range []string{"epoll", "uring"} {
		t.Run(d, func(t *testing.T) {
			leakcheck.Check(t)
			f(t, d)
		})
	}
}
