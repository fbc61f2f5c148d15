package center

import (
	"time"

	"github.com/gomsgr/gomsgr/internal/clock"
)

// Instant is a reading of the loops' clock (monotonic nanoseconds). Every
// Center reads the same clock, so readings from different loops and
// goroutines compare; its own type keeps wall-clock values out of fields
// that hold loop-clock readings.
type Instant = clock.Instant

// Nanotime reads the loops' clock. Center.Now returns a reading of it
// without reading it again, so a reading taken on another goroutine (a
// message's queue time) can be subtracted from one taken on a loop.
func Nanotime() Instant { return clock.Now() }

// TimeOf converts a loop-clock reading to a time.Time (wall and monotonic).
func TimeOf(t Instant) time.Time { return t.Time() }

// Now returns the loop's clock as last read, without reading it: when the
// current turn's events began, refreshed after they ran (before timers and
// external events) and by AddTimer. Handlers that want a timestamp no finer
// than a turn (a last-activity time, say) take it from here for free. Only
// the goroutine running the loop may call it.
func (c *Center) Now() Instant { return Instant(c.nowNs) }
