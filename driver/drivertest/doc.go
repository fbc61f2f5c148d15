// Package drivertest is the conformance suite that every driver.Driver
// passes unchanged, and the wake-up benchmarks that compare them.
//
// It covers Ceph's test_async_driver and test_async_networkstack cases
// (edge-triggered pipes, listen/accept/connect on 127.0.0.1, fd table growth,
// refused connects, EOF, bulk transfer with EAGAIN handling, interest removal,
// timeouts, error and hang-up reporting) plus a stress echo, an fd-count check
// around every case and goleak where a case starts goroutines.
//
// A driver's test is one line:
//
//	func TestConformance(t *testing.T) { drivertest.Run(t, open) }
//
// where open is the driver's driver.NewFunc. A factory that returns a
// *driver.UnsupportedError makes the suite skip. Every driver call of a case
// happens on the goroutine that called the factory, so a factory may lock
// that goroutine to its OS thread (io_uring's SINGLE_ISSUER) and unlock it in
// a t.Cleanup registered before it returns.
//
// The suite and the benchmarks are built from Linux system calls (pipe2,
// eventfd, accept4, /proc/self/fd) and every driver is Linux-only; on other
// systems the package builds, and Run and the benchmarks skip, saying why.
package drivertest
