package framing

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/clock"
)

// Progress is the message progress deadline of a connection's Reader
// (docs/ARCHITECTURE.md, "Hostile peers"): once a MESSAGE frame's budget
// was taken at its preamble, the rest of the frame must arrive within the
// timeout, or the connection fails with gomsgr.ErrStalled, which gives the
// budget back. The owner tells it when the feeder took budget (Took) and,
// after each Reader.Process, whether the frame is still pending (After);
// it arms a timer of its own when After says so and asks Expired when the
// timer fires. A frame that arrives within one Process (the usual case)
// costs a flag and no timer.
//
// Took and After belong to the Reader's owner; Expired and Size may be
// called from any goroutine (simple's timers).
type Progress struct {
	timeout time.Duration
	since   atomic.Int64 // clock.Instant the pending frame began waiting (0: none)
	size    atomic.Int64 // the pending frame's payload bytes
	fresh   bool         // budget was taken since the last After
	taken   int64        // the size Took recorded
}

// Init sets the deadline; zero or negative turns it off.
func (p *Progress) Init(timeout time.Duration) { p.timeout = timeout }

// Timeout returns the deadline (non-positive: off).
func (p *Progress) Timeout() time.Duration { return p.timeout }

// Took records that the feeder took the budget of a new MESSAGE frame of
// size payload bytes (from Feeder.Budget).
func (p *Progress) Took(size int64) {
	p.fresh = true
	p.taken = size
}

// After looks at r once Process returned, now being the owner's clock. It
// reports true when a frame holding budget has just begun to wait for its
// remaining bytes: the owner then arms its timer for Timeout (re-arming
// one still armed for an earlier frame).
func (p *Progress) After(r *Reader, now clock.Instant) bool {
	if !r.Held.Taken() {
		p.fresh = false
		if p.since.Load() != 0 {
			p.since.Store(0)
		}
		return false
	}
	if !p.fresh {
		return false // the same frame as before is still pending
	}
	p.fresh = false
	if p.timeout <= 0 {
		return false
	}
	p.size.Store(p.taken)
	p.since.Store(int64(max(now, 1)))
	return true
}

// Reset forgets the pending frame (the socket is gone; the Reader gave its
// budget back).
func (p *Progress) Reset() {
	p.fresh = false
	p.since.Store(0)
}

// Expired is the timer's question at now: stalled when the pending frame
// is past its deadline; otherwise rest is the time it has left (re-arm for
// it), or zero when no frame is pending.
func (p *Progress) Expired(now clock.Instant) (stalled bool, rest time.Duration) {
	since := clock.Instant(p.since.Load())
	if since == 0 {
		return false, 0
	}
	if waited := now.Sub(since); waited < p.timeout {
		return false, p.timeout - waited
	}
	return true, 0
}

// Err is the cause a stalled connection fails with.
func (p *Progress) Err(prefix string) error {
	return fmt.Errorf("%s: %w: a %d-byte message held its receive budget for %v without arriving whole (MessageProgressTimeout)",
		prefix, gomsgr.ErrStalled, p.size.Load(), p.timeout)
}
