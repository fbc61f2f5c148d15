package framing

import (
	"errors"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// TestProgress: the deadline starts when a frame holding budget waits for
// more bytes, once per frame; a frame read whole in one Process starts
// none; a later frame restarts it; Expired says stalled only past it.
func TestProgress(t *testing.T) {
	th := msgrbase.NewThrottle(perf.NewSet("t"), "m", 10)
	r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true, thr: msgrbase.Throttles{Msgs: th}}
	var p Progress
	p.Init(time.Second)
	process := func(in []byte, now clock.Instant) bool {
		t.Helper()
		b := r.Space()
		r.Filled(copy(b, in))
		before := e.budgets
		if err := r.Process(e); err != nil {
			t.Fatal(err)
		}
		if e.budgets > before {
			p.Took(int64(e.budgets)) // any size: Err reports it
		}
		return p.After(r, now)
	}
	whole := frame(1, 100)
	if process(whole, 1000) {
		t.Fatal("a frame read whole armed the deadline")
	}
	f := frame(2, 100)
	if !process(f[:40], 2000) {
		t.Fatal("a frame waiting with its budget did not arm the deadline")
	}
	if process(f[40:50], 3000) {
		t.Fatal("the same pending frame armed the deadline again")
	}
	if stalled, rest := p.Expired(clock.Instant(2000).Add(time.Second / 2)); stalled || rest != time.Second/2 {
		t.Fatalf("half way: stalled %v, rest %v", stalled, rest)
	}
	if stalled, _ := p.Expired(clock.Instant(2000).Add(time.Second)); !stalled {
		t.Fatal("not stalled at the deadline")
	}
	if err := p.Err("t"); !errors.Is(err, gomsgr.ErrStalled) {
		t.Fatalf("Err = %v, want ErrStalled", err)
	}
	if process(f[50:], 4000) {
		t.Fatal("the frame's end armed the deadline")
	}
	if stalled, rest := p.Expired(clock.Instant(2000).Add(time.Hour)); stalled || rest != 0 {
		t.Fatalf("after the frame arrived: stalled %v, rest %v", stalled, rest)
	}
	g := frame(3, 100)
	if !process(g[:40], 5000) {
		t.Fatal("a later pending frame did not arm the deadline")
	}
	var off Progress // r holds frame 3's budget: only the switch differs
	off.Init(-1)
	off.Took(1)
	if off.After(r, 1) {
		t.Fatal("a deadline that is off armed")
	}
	p.Reset()
	r.Reset()
	if stalled, rest := p.Expired(clock.Instant(5000).Add(time.Hour)); stalled || rest != 0 {
		t.Fatalf("after Reset: stalled %v, rest %v", stalled, rest)
	}
}
