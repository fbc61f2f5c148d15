package monc_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/monc"
)

// shared is one mon for the tests that do not stop it.
var shared *cephtest.Mon

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Install (as root) or fail with instructions: never skip.
	if err := cephtest.Install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	mon, err := cephtest.Launch(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shared = mon
	code := m.Run()
	if err := mon.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, mon *cephtest.Mon, o monc.Options) *monc.Client {
	t.Helper()
	// Registered before the client's Close, so it runs after it: the
	// client must leave no goroutine and no fd behind.
	leakcheck.Check(t)
	return dialUnchecked(t, mon, o)
}

// dialUnchecked is dial for tests that restart the mon: the new mon
// process's waiter goroutine and pidfd belong to cephtest, not the client.
func dialUnchecked(t *testing.T, mon *cephtest.Mon, o monc.Options) *monc.Client {
	t.Helper()
	o.Addr = netip.MustParseAddrPort(mon.V2Addr())
	c, err := monc.Dial(testCtx(t, 20*time.Second), o)
	if err != nil {
		t.Fatalf("Dial %s: %v\nmon log:\n%s", mon.V2Addr(), err, mon.LogTail(20))
	}
	if o.Driver != "" && c.Driver() != o.Driver {
		t.Errorf("driver %q in use, want %q (the kernel refused io_uring?)", c.Driver(), o.Driver)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// closeClient closes c at the end of a test or benchmark and fails it if
// Close fails.
func closeClient(tb testing.TB, c *monc.Client) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Errorf("Close: %v", err)
	}
}
