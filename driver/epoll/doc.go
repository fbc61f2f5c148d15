// Package epoll is the edge-triggered epoll(7) driver.Driver, Ceph's
// EpollDriver in Go form, registered under the name "epoll".
//
// Interest is registered with EPOLLET; EPOLLERR, EPOLLHUP and EPOLLRDHUP are
// reported as driver.ReadWrite. The driver's events buffer is its own and
// grows to the caller's slice once, so Wait allocates nothing in steady
// state. A *Driver implements driver.Pollable: its epoll fd is readable when
// Wait has events to return.
//
// Package center links this driver on Linux as its default. On other
// systems the package builds and registers the name, and New returns a
// *driver.UnsupportedError wrapping errors.ErrUnsupported.
//
//	d, err := driver.Open("epoll", driver.Config{Events: 1024})
//	if err != nil { ... }
//	defer d.Close()
//	_ = d.Add(fd, driver.None, driver.Readable)
//	n, err := d.Wait(events, -1)
package epoll
