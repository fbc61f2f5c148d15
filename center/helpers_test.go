package center

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// modes is every driver × wait mode combination the tests run under.
func modes() []Config {
	var out []Config
	for _, d := range driver.Names() {
		for _, w := range []WaitMode{WaitPoller, WaitThread} {
			out = append(out, Config{Driver: d, Wait: w})
		}
	}
	return out
}

func modeName(c Config) string { return c.Driver + "/" + c.Wait.String() }

// forEachMode runs f as a subtest for every driver and wait mode.
func forEachMode(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, cfg := range modes() {
		t.Run(modeName(cfg), func(t *testing.T) { f(t, cfg) })
	}
}

// start creates a center, runs it on a new goroutine, and stops and closes
// it when the test ends, checking for leaks.
func start(t *testing.T, cfg Config) *Center {
	t.Helper()
	leakcheck.Check(t)
	c, err := New(cfg)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("New: %v", err) // off Linux
	}
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run() }()
	t.Cleanup(func() {
		c.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of Stop")
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Wait until the loop runs, so that owner checks apply.
	if err := c.SubmitWait(ctxTimeout(t, 10*time.Second), func() {}); err != nil {
		t.Fatalf("first SubmitWait: %v", err)
	}
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// on runs fn on c's owner and waits for it.
func on(t *testing.T, c *Center, fn func()) {
	t.Helper()
	if err := c.SubmitWait(ctxTimeout(t, 10*time.Second), fn); err != nil {
		t.Fatalf("SubmitWait: %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func raceOr(race, normal int) int {
	if raceEnabled {
		return race
	}
	return normal
}

// closeCenter closes c at the end of a test or benchmark, reporting a
// failed close.
func closeCenter(tb testing.TB, c *Center) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Errorf("Close: %v", err)
	}
}
