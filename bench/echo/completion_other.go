//go:build !linux

package echo

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/driver/uring"
)

// NewCompletionServer reports that completion mode needs Linux io_uring:
// it returns a *driver.UnsupportedError wrapping errors.ErrUnsupported, the
// error a Linux kernel without completion mode gives, so that callers skip
// the server the same way on both.
func NewCompletionServer(addr string, opts CompletionOptions) (*CompletionServer, error) {
	return nil, &driver.UnsupportedError{Driver: uring.Name,
		Err: fmt.Errorf("echo: the completion-mode server needs Linux io_uring: %w", errors.ErrUnsupported)}
}
