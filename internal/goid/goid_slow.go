//go:build !amd64 && !arm64

package goid

// Current returns a key identifying the running goroutine.
func Current() uintptr { return slowID() }
