//go:build !linux

package center

import (
	"errors"
	"fmt"
)

// errNeedsLinux is why a center cannot be made off Linux: its wake-up is
// an eventfd, and every driver is Linux-only.
var errNeedsLinux = fmt.Errorf("center needs Linux (eventfd, epoll or io_uring): %w", errors.ErrUnsupported)

// newWakeFd fails: see errNeedsLinux. New stops there, so the functions
// below are never called.
func newWakeFd() (int, error) { return -1, errNeedsLinux }

func closeFd(fd int) error { return errNeedsLinux }

func writeWake(fd int) {}

func drainWakeFd(fd int) {}

func dupNonblock(fd int) (int, error) { return -1, errNeedsLinux }
