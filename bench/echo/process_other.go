//go:build !linux

package echo

import (
	"errors"
	"fmt"
)

// PinSelf reports that pinning needs Linux (sched_setaffinity on every
// thread): the error wraps errors.ErrUnsupported, and the process runs
// unpinned.
func PinSelf(cpu int) error {
	return fmt.Errorf("echo: pinning to cpu %d needs Linux: %w", cpu, errors.ErrUnsupported)
}
