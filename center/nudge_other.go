//go:build !linux

package center

// pollFd is poll(2)'s struct pollfd; off Linux there is no center to
// nudge (New fails), so it is never polled.
type pollFd struct {
	Fd              int32
	Events, Revents int16
}

const pollIn = 1

func pollNow([]pollFd) bool { return false }
