// Package driver defines the readiness-driver contract that the event loop
// (package center) is built on: Ceph's EventDriver in Go form.
//
// A Driver watches file descriptors for READABLE and WRITABLE readiness,
// edge-triggered, and reports fired events into a caller-owned slice. It is
// owned by one goroutine (the worker of a center.Center); none of its methods
// may be called concurrently. Implementations live in driver/epoll and
// driver/uring; each registers its name when its package is imported, so the
// application decides which are linked, and Open selects one of those at run
// time by name. Every one of them passes the conformance suite in
// driver/drivertest unchanged.
//
// Optional capabilities are extra interfaces checked with a type assertion,
// in the manner of database/sql/driver: a Driver that can be parked on by the
// Go runtime poller implements Pollable; one that can also do socket I/O in
// completion mode, when Config.Completion asks for it, implements Completer.
package driver

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mask is a set of readiness conditions.
type Mask uint32

const (
	// Readable means the fd can be read without blocking, or has an error or
	// hang-up pending (a read then reports it).
	Readable Mask = 1 << iota
	// Writable means the fd can be written without blocking, or has an error
	// or hang-up pending.
	Writable
	// Hangup comes with Readable|Writable when the peer hung up (shut down
	// its side or reset) or an error is pending. A reader that drained the
	// socket with a short read must then read on until EOF: with
	// edge-triggered readiness no further event comes for a FIN that
	// arrived together with the last data.
	Hangup

	// None is the empty mask.
	None Mask = 0
	// ReadWrite is Readable|Writable.
	ReadWrite = Readable | Writable
)

// String returns "R", "W", "RW" or "-", with "H" appended for a hang-up.
func (m Mask) String() string {
	if m&Hangup != 0 {
		return (m &^ Hangup).String() + "H"
	}
	switch m & ReadWrite {
	case Readable:
		return "R"
	case Writable:
		return "W"
	case ReadWrite:
		return "RW"
	}
	return "-"
}

// Event is one fired readiness notification.
type Event struct {
	// Fd is the file descriptor that fired.
	Fd int32
	// Mask is the set of conditions that fired. Errors and hang-ups are
	// reported as Readable|Writable, so that whichever handler runs sees the
	// error from its own read or write.
	Mask Mask
}

// Driver is the readiness interface of one event loop. Interest is
// edge-triggered: an fd fires when it becomes ready, not while it stays ready,
// so a handler reads or writes until EAGAIN before it waits again.
//
// The caller keeps each fd's current mask (Ceph's EventCenter does the same)
// and passes it in, so a driver keeps no per-fd table of its own unless its
// kernel interface needs one.
type Driver interface {
	// Add sets fd's interest to cur|add. cur is the interest the caller
	// registered before (None for a new fd).
	Add(fd int, cur, add Mask) error
	// Del sets fd's interest to cur&^del; when that is None the fd is removed
	// from the driver entirely. After Del removes a condition, Wait does not
	// report it for fd again (a completion already in flight is filtered).
	Del(fd int, cur, del Mask) error
	// Wait blocks until at least one event fires or timeout passes, and stores
	// up to len(events) fired events, returning how many. A negative timeout
	// waits without limit; zero polls. Wait also submits any interest changes
	// that are still batched. An interrupted wait returns 0, nil or waits
	// on; EINTR is never an error.
	Wait(events []Event, timeout time.Duration) (int, error)
	// Close releases the driver's kernel resources. Registered fds are not
	// closed.
	Close() error
	// Name is the name the driver is registered under ("epoll", "uring").
	Name() string
}

// Pollable is implemented by a Driver whose own file descriptor becomes
// readable when Wait would return events (an epoll fd, an io_uring fd). The
// event loop can then park its goroutine in the Go runtime poller on that fd
// instead of blocking an OS thread in Wait.
type Pollable interface {
	// Fd returns the driver's own file descriptor. The driver still owns it.
	Fd() int
}

// Config holds the options common to every driver.
type Config struct {
	// Events is the initial number of fds the driver expects to watch. It is
	// a hint (Ceph's nevent); drivers grow past it.
	Events int
	// OneThread promises that, once the driver is first used, every call
	// comes from one OS thread that stays locked to its goroutine
	// (runtime.LockOSThread) and blocks in Wait: center's WaitThread mode.
	// A driver may then use kernel features bound to the submitting
	// thread; the uring driver turns on CoopTaskrun, so that completions
	// no longer interrupt the thread with an IPI but run when it next
	// enters the kernel.
	OneThread bool
	// Completion asks for the Completer capability (completion-mode socket
	// I/O in the same driver, beside readiness). A driver that cannot offer
	// it returns an *UnsupportedError; one that does not know it ignores
	// it (the caller checks with a type assertion).
	Completion bool
}

// NewFunc constructs a driver.
type NewFunc func(Config) (Driver, error)

// ErrUnknown is returned by Open for a name no driver was registered under.
var ErrUnknown = errors.New("driver: unknown driver")

// UnsupportedError reports that the kernel refused a driver (for example
// io_uring_setup returning ENOSYS or EPERM). Callers fall back to another
// driver on it.
type UnsupportedError struct {
	Driver string
	Err    error
}

// Error says which driver the kernel refused and why.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("driver %s unsupported: %v", e.Driver, e.Err)
}

// Unwrap returns the kernel's error (an errno such as ENOSYS or EPERM).
func (e *UnsupportedError) Unwrap() error { return e.Err }

var (
	regMu    sync.RWMutex
	registry = map[string]NewFunc{}
)

// Register makes a driver available to Open under name. Driver packages call
// it from init; registering a name twice panics (a programming error).
func Register(name string, f NewFunc) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("driver: Register called twice for " + name)
	}
	registry[name] = f
}

// Open constructs the driver registered under name.
func Open(name string, cfg Config) (Driver, error) {
	regMu.RLock()
	f := registry[name]
	regMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return f(cfg)
}

// Names lists the registered driver names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
