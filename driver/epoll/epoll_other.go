//go:build !linux

package epoll

import (
	"errors"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/driver"
)

// errUnsupported is what every call returns off Linux. It is a
// *driver.UnsupportedError, and wraps errors.ErrUnsupported.
var errUnsupported error = &driver.UnsupportedError{Driver: Name, Err: fmt.Errorf("epoll needs Linux: %w", errors.ErrUnsupported)}

// Driver is the epoll driver. Off Linux there is no epoll: New fails, and
// the methods, which exist so that code using the driver builds anywhere,
// report the same error.
type Driver struct{}

var _ driver.Driver = (*Driver)(nil)

// New returns a *driver.UnsupportedError wrapping errors.ErrUnsupported:
// epoll exists only on Linux.
func New(cfg driver.Config) (*Driver, error) { return nil, errUnsupported }

// Add reports that epoll needs Linux.
func (d *Driver) Add(fd int, cur, add driver.Mask) error { return errUnsupported }

// Del reports that epoll needs Linux.
func (d *Driver) Del(fd int, cur, del driver.Mask) error { return errUnsupported }

// Wait reports that epoll needs Linux.
func (d *Driver) Wait(events []driver.Event, timeout time.Duration) (int, error) {
	return 0, errUnsupported
}

// Close does nothing: no Driver holds anything off Linux.
func (d *Driver) Close() error { return nil }

// Name returns "epoll".
func (d *Driver) Name() string { return Name }

// Fd returns -1: there is no epoll fd.
func (d *Driver) Fd() int { return -1 }
