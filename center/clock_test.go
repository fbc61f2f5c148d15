package center

import (
	"context"
	"testing"
	"time"
)

// TestNow checks that the loop's cached clock moves with the turns, never
// runs ahead of Nanotime, and converts back to wall time.
func TestNow(t *testing.T) {
	c := start(t, Config{})
	read := func() Instant {
		var v Instant
		if err := c.SubmitWait(context.Background(), func() { v = c.Now() }); err != nil {
			t.Fatal(err)
		}
		return v
	}
	a := read()
	time.Sleep(3 * time.Millisecond)
	b := read()
	if d := b.Sub(a); d < 3*time.Millisecond {
		t.Fatalf("Now moved %v across a 3ms sleep", d)
	}
	if now := Nanotime(); b > now {
		t.Fatalf("Now %d is ahead of Nanotime %d", b, now)
	}
	if d := time.Since(TimeOf(Nanotime())); d < 0 || d > time.Second {
		t.Fatalf("TimeOf(Nanotime()) is %v from time.Now", d)
	}
}

// TestWaitAuto checks the zero WaitMode's choice per driver.
func TestWaitAuto(t *testing.T) {
	for drv, want := range map[string]WaitMode{"": WaitPoller, "epoll": WaitPoller, "uring": WaitThread} {
		if got := (Config{Driver: drv}).withDefaults().Wait; got != want {
			t.Errorf("driver %q: auto wait = %v, want %v", drv, got, want)
		}
	}
	if got := (Config{Driver: "uring", Wait: WaitPoller}).withDefaults().Wait; got != WaitPoller {
		t.Errorf("an explicit WaitPoller became %v", got)
	}
	c := start(t, Config{Driver: "uring"})
	if c.WaitMode() != WaitThread {
		t.Errorf("a uring center runs %v, want thread", c.WaitMode())
	}
}
