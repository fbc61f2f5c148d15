package msgrtest

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
)

// New returns the messenger newM makes from o, failing t if it cannot, and
// shuts it down (checking the error) when t ends:
//
//	srv := msgrtest.New(t, conn.NewMessenger, conn.Options{Name: osd0})
func New[O any, M gomsgr.Messenger](t testing.TB, newM func(O) (M, error), o O) M {
	t.Helper()
	m, err := newM(o)
	if err != nil {
		t.Fatalf("new messenger: %v", err)
	}
	t.Cleanup(func() { shutdown(t, m) })
	return m
}

// Serve sets m's default policy and adds ds, binds m to 127.0.0.1 port 0
// (a free port, or the first free one of its options' range) and starts
// it. It returns m, for chaining with New.
func Serve[M gomsgr.Messenger](t testing.TB, m M, pol gomsgr.Policy, ds ...gomsgr.Dispatcher) M {
	t.Helper()
	start(t, m, pol, ds, true)
	return m
}

// Start is Serve without the Bind: a messenger that only connects.
func Start[M gomsgr.Messenger](t testing.TB, m M, pol gomsgr.Policy, ds ...gomsgr.Dispatcher) M {
	t.Helper()
	start(t, m, pol, ds, false)
	return m
}

func start(t testing.TB, m gomsgr.Messenger, pol gomsgr.Policy, ds []gomsgr.Dispatcher, bind bool) {
	t.Helper()
	configure(t, m, pol, ds...)
	if bind {
		if err := m.Bind(context.Background(), local); err != nil {
			t.Fatalf("Bind: %v", err)
		}
	}
	if err := m.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// configure sets m's default policy and adds ds, failing t if m refuses
// (it is started already).
func configure(t testing.TB, m gomsgr.Messenger, pol gomsgr.Policy, ds ...gomsgr.Dispatcher) {
	t.Helper()
	if err := m.SetDefaultPolicy(pol); err != nil {
		t.Fatalf("SetDefaultPolicy: %v", err)
	}
	for _, d := range ds {
		if err := m.AddDispatcher(d); err != nil {
			t.Fatalf("AddDispatcher: %v", err)
		}
	}
}

// WaitUntil polls cond every millisecond until it holds; if it does not
// within d, t fails with what it was waiting for.
func WaitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitOrDump is WaitUntil for waits that a stopped session would fail:
// on a timeout it logs what each messenger knows (its dump: every
// connection's state, role, queued and unacknowledged messages) and every
// goroutine's stack before it fails t, which is what such a stop needs to
// be diagnosed after the fact.
func WaitOrDump(t testing.TB, d time.Duration, what string, cond func() bool, ms ...gomsgr.Messenger) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			for i, m := range ms {
				if dm, ok := m.(interface{ Dump() gomsgr.Dump }); ok {
					var b bytes.Buffer
					if err := dm.Dump().WriteJSON(&b); err == nil {
						t.Logf("messenger %d (%s) at the timeout:\n%s", i, m.Name(), b.String())
					}
				}
			}
			buf := make([]byte, 1<<20)
			t.Logf("goroutines at the timeout:\n%s", buf[:runtime.Stack(buf, true)])
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// shutdown shuts m down and waits for it, failing t on an error.
func shutdown(t testing.TB, m gomsgr.Messenger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := m.Wait(ctx); err != nil {
		t.Errorf("Wait: %v", err)
	}
}
