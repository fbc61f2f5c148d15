package center

import "time"

// epoch anchors the loops' clock; every Center reads the same one, so
// readings from different loops and goroutines compare.
var epoch = time.Now()

// Nanotime returns the loops' clock: monotonic nanoseconds since the
// package was initialised. Center.Now and Center.Stamp return readings of
// it, so a reading taken on another goroutine (a message's queue time)
// can be subtracted from one taken on a loop.
func Nanotime() int64 { return int64(time.Since(epoch)) }

// TimeOf converts a Nanotime reading to a time.Time (wall and monotonic).
func TimeOf(ns int64) time.Time { return epoch.Add(time.Duration(ns)) }

// Now returns the loop's clock as last read, without reading it: when the
// current turn's events began, refreshed after they ran (before timers and
// external events) and by AddTimer. Handlers that want a timestamp no finer
// than a turn (a last-activity time, say) take it from here for free. Only
// the goroutine running the loop may call it.
func (c *Center) Now() int64 { return c.nowNs }
