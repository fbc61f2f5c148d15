//go:build !linux

package echo

import (
	"context"
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/center"
)

// errNeedsLinux is why there is no event-loop Server off Linux: its
// sockets are raw non-blocking fds on a center, and center needs Linux.
var errNeedsLinux = fmt.Errorf("echo: the event-loop server needs Linux (center, epoll or io_uring): %w", errors.ErrUnsupported)

// NewServerWith reports that the event-loop server needs Linux: the error
// wraps errors.ErrUnsupported. StdServer runs everywhere.
func NewServerWith(addr string, cfg center.StackConfig, opts ServerOptions) (*Server, error) {
	return nil, errNeedsLinux
}

// Close reports that the event-loop server needs Linux: no Server is ever
// started off Linux, so there is nothing to close.
func (s *Server) Close(ctx context.Context) error { return errNeedsLinux }
