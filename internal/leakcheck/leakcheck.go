// Package leakcheck verifies that a test leaves no goroutine and no open file
// descriptor behind. Tests that start event loops or messengers call Check
// first; the verification runs in the test's cleanup.
package leakcheck

import (
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// OpenFds returns the open file descriptors of this process.
func OpenFds(tb testing.TB) map[int]string {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatalf("leakcheck: %v", err)
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory's own fd, closed again by now
		}
		fds[fd] = target
	}
	return fds
}

var pollerOnce sync.Once

// startPoller makes the Go runtime open its network poller (an epoll fd
// and an eventfd, kept for the life of the process) before the first
// check: opened during a test, they were reported as that test's leak.
func startPoller() {
	r, w, err := os.Pipe() // pipes are pollable: the poller starts
	if err == nil {
		_ = r.Close()
		_ = w.Close()
	}
}

// Check records the goroutines and fds open now and, when the test ends,
// fails it if goroutines it started are still running or fds it opened are
// still open. Goroutines get a few seconds to finish; the fd check waits for
// them first.
func Check(tb testing.TB) {
	tb.Helper()
	pollerOnce.Do(startPoller)
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	before := OpenFds(tb)
	tb.Cleanup(func() {
		if err := goleak.Find(opts...); err != nil {
			tb.Errorf("leakcheck: goroutines left running: %v", err)
		}
		after := OpenFds(tb)
		var leaked []string
		for fd, target := range after {
			if prev, ok := before[fd]; !ok || prev != target {
				leaked = append(leaked, strconv.Itoa(fd)+" -> "+target)
			}
		}
		sort.Strings(leaked)
		if len(leaked) > 0 {
			tb.Errorf("leakcheck: %d fds left open: %v", len(leaked), leaked)
		}
	})
}
