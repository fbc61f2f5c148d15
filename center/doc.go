// Package center is gomsgr's event loop: Ceph's EventCenter and the Stack of
// workers that own them.
//
// A Center belongs to one goroutine, its owner, which runs Run. The owner
// handles three kinds of events, all on that goroutine:
//
//   - file events: readiness of fds registered with AddFile, reported by a
//     driver.Driver (epoll or io_uring), edge-triggered;
//   - timers: Timer values armed with AddTimer on a hashed timing wheel,
//     deadlines rounded up to the wheel's tick;
//   - external events: Post, Submit and SubmitWait from any goroutine, carried
//     by a lock-free MPSC queue and a wake-up eventfd that is written only when
//     the owner sleeps.
//
// Only the owner touches the file table and the timers; other goroutines post
// an event that does it for them. Calling an owner-only method from
// elsewhere once the loop runs is a programming error: it panics, naming the
// method.
//
// Before it blocks, the owner may spin for Config.Spin, polling the driver
// without a timeout, because on few cores a wake-up costs more than a
// message. It then blocks either by parking its goroutine in the Go runtime
// poller on the driver's own fd (WaitPoller) or by blocking its locked OS
// thread in the driver's Wait (WaitThread); the zero WaitAuto picks the
// poller for epoll and the thread for io_uring, whichever bench/peers
// measured faster. An idle center with no timers makes no wake-ups at all.
//
// The application picks which drivers are linked. On Linux this package
// links epoll, the default; io_uring is linked only into a program that
// imports its package, blank when it selects the driver by name:
//
//	import _ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring"
//
// Config.Driver "uring" without that import makes New fail with
// driver.ErrUnknown (a kernel that refuses io_uring is another matter: the
// center then falls back to epoll). The center needs Linux: elsewhere the
// package builds, and New returns an error wrapping errors.ErrUnsupported.
//
//	c, _ := center.New(center.Config{})
//	go c.Run()
//	c.Submit(func() { fmt.Println("on the worker") })
//	c.Stop()
//	c.Close()
package center
