// Package clock is the loops' monotonic clock, shared by the event loop
// (package center re-exports it) and both messengers, so that a reading
// taken by a sender compares with one taken on a worker, and so that a
// wall-clock value cannot be stored where a loop-clock value belongs: an
// Instant is its own type, made only by Now.
package clock

import "time"

// epoch anchors the clock; every reading is relative to it.
var epoch = time.Now()

// Instant is a reading of the loops' clock: monotonic nanoseconds since
// the process started using it. The zero Instant means "not set".
type Instant int64

// Now reads the clock.
func Now() Instant { return Instant(time.Since(epoch)) }

// Sub returns t - u.
func (t Instant) Sub(u Instant) time.Duration { return time.Duration(t - u) }

// Add returns t + d.
func (t Instant) Add(d time.Duration) Instant { return t + Instant(d) }

// Since returns the time elapsed since t.
func Since(t Instant) time.Duration { return Now().Sub(t) }

// Time converts t to a time.Time (wall and monotonic).
func (t Instant) Time() time.Time { return epoch.Add(time.Duration(t)) }

// IsZero reports whether t is the zero Instant (unset).
func (t Instant) IsZero() bool { return t == 0 }
