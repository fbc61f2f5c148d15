package center

import (
	"log/slog"
	"time"
)

// WaitMode selects how a worker blocks when it has nothing to do.
type WaitMode int

const (
	// WaitAuto, the zero value, picks the faster mode for the driver in
	// bench/peers (figures in bench/RESULTS.md, "Figures moved from doc
	// comments"): WaitThread for io_uring, because on a locked thread the
	// ring uses COOP_TASKRUN and completions no longer interrupt the
	// worker, and WaitPoller for epoll (level with WaitThread, and no
	// thread held).
	WaitAuto WaitMode = iota
	// WaitPoller parks the worker goroutine in the Go runtime poller on the
	// driver's fd; no OS thread stays blocked, and the runtime wakes the
	// goroutine when the driver has events.
	WaitPoller
	// WaitThread locks the worker goroutine to its OS thread and blocks that
	// thread in the driver's Wait, as Ceph's workers do. A busy worker
	// yields its P after each turn that did work, so that workers and
	// goroutines sharing the Ps take turns.
	WaitThread
)

// String returns "auto", "poller" or "thread".
func (m WaitMode) String() string {
	switch m {
	case WaitAuto:
		return "auto"
	case WaitPoller:
		return "poller"
	case WaitThread:
		return "thread"
	}
	return "unknown"
}

// IOMode selects how the sockets of a center's users do their I/O.
type IOMode int

const (
	// IOAuto, the zero value, is IOReadiness: in this repository's
	// benchmarks (bench/RESULTS.md) completion mode moves large messages
	// faster, but costs more CPU per message for messages of a few KiB
	// and adds latency to a ping-pong, where readiness mode on io_uring
	// is at least level with epoll.
	IOAuto IOMode = iota
	// IOReadiness: the driver reports that a socket is ready and the
	// handler makes the system call (read, writev), as Ceph's
	// AsyncMessenger does.
	IOReadiness
	// IOCompletion: with a driver that offers driver.Completer (io_uring),
	// the kernel receives into buffers the driver owns and sends from
	// the caller's memory, and the handler learns what was done (Recv,
	// Send, Quiesce). With any other driver it is IOReadiness.
	IOCompletion
)

// String returns "auto", "readiness" or "completion".
func (m IOMode) String() string {
	switch m {
	case IOAuto:
		return "auto"
	case IOReadiness:
		return "readiness"
	case IOCompletion:
		return "completion"
	}
	return "unknown"
}

// Defaults of Config.
const (
	DefaultDriver     = "epoll"
	DefaultEvents     = 1024
	DefaultTick       = time.Millisecond
	DefaultWheelSlots = 4096
	DefaultQueueSize  = 4096
	DefaultSpin       = 50 * time.Microsecond
)

// Config configures a Center. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// ID names the center in logs, profiles and dumps (Ceph's worker id).
	ID int
	// Driver is the name of the readiness driver ("epoll" or "uring").
	// "uring" needs the program to import driver/uring (see the package
	// comment). When "uring" is refused by the kernel the center falls
	// back to "epoll" and logs why. Default "epoll".
	Driver string
	// Events is the initial size of the fd table and of the fired-events
	// buffer; both grow on demand. Default 1024.
	Events int
	// Wait selects how the worker blocks. Default WaitAuto: WaitThread
	// for "uring", WaitPoller otherwise.
	Wait WaitMode
	// IO selects readiness or completion mode for the sockets of the
	// center's users (see IOMode). Default IOAuto.
	IO IOMode
	// Spin is how long the worker polls the driver without blocking before
	// it sleeps. Negative disables spinning; zero means DefaultSpin.
	Spin time.Duration
	// Tick is the timer wheel's resolution; deadlines round up to it.
	// Default 1ms.
	Tick time.Duration
	// WheelSlots is the number of slots of the timer wheel (rounded up to a
	// power of two). A timer further away than Tick*WheelSlots costs one
	// extra wake-up per revolution at most. Default 4096.
	WheelSlots int
	// QueueSize is the capacity of the lock-free external event queue.
	// When it is full, posts go to a locked overflow list that keeps each
	// producer's order. Default 4096.
	QueueSize int
	// Logger receives the center's rare log lines (driver fallback). Default
	// slog.Default().
	Logger *slog.Logger
	// OnBusy, when set, is called on the loop after each turn that did
	// work (ran file events, timers or external events), with the center's
	// ID and the time the turn spent working (not waiting): Ceph's
	// msgr_running_total_time. It costs one clock read per turn. Being
	// the end of every busy turn, it is also where a messenger publishes
	// the counts its handlers gathered during the turn.
	OnBusy func(worker int, busy time.Duration)
}

func (c Config) withDefaults() Config {
	if c.Driver == "" {
		c.Driver = DefaultDriver
	}
	if c.Wait == WaitAuto {
		c.Wait = WaitPoller
		if c.Driver == "uring" {
			c.Wait = WaitThread
		}
	}
	if c.IO == IOAuto {
		c.IO = IOReadiness
	}
	if c.Events <= 0 {
		c.Events = DefaultEvents
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.Spin < 0 {
		c.Spin = 0
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.WheelSlots <= 0 {
		c.WheelSlots = DefaultWheelSlots
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
