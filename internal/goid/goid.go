// Package goid identifies the running goroutine cheaply, so that the event
// loop can tell whether a caller is a worker's own goroutine (Ceph compares
// pthread ids for the same purpose).
//
// Current returns a key that is unique among live goroutines: on amd64 and
// arm64 the address of the runtime's g structure, read in one instruction; on
// other architectures the goroutine id parsed from runtime.Stack (slow, but
// only used on those ports). A key may be reused after its goroutine exits, so
// compare only against goroutines known to be alive.
package goid

import (
	"runtime"
	"strconv"
	"strings"
)

// slowID parses "goroutine 123 [" from the current goroutine's stack header.
func slowID() uintptr {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("goid: cannot parse goroutine id from runtime.Stack: " + err.Error())
	}
	return uintptr(id)
}
