//go:build !linux

package uring

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/driver"
)

// New reports that io_uring exists only on Linux: it returns a
// *driver.UnsupportedError that wraps errors.ErrUnsupported, so that a
// caller falls back as it does when a Linux kernel refuses io_uring.
func New(cfg driver.Config, opts Options) (driver.Driver, error) {
	return nil, &driver.UnsupportedError{Driver: Name, Err: fmt.Errorf("io_uring needs Linux: %w", errors.ErrUnsupported)}
}
