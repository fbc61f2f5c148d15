package echo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// CompletionServer is the byte echo in io_uring completion mode, on one
// goroutine locked to its thread: a multishot accept on the listener, a
// multishot receive on every connection into the ring's provided buffers,
// and each received buffer sent back as it is (no copy), one send in
// flight per connection, the buffer returned to the ring when its send
// completes. Compare it with Server on the readiness drivers: it makes no
// read or write system calls, only io_uring_enter. It needs Linux:
// elsewhere NewCompletionServer fails with a *driver.UnsupportedError.
type CompletionServer struct {
	ln   *net.TCPListener
	lf   *os.File
	addr string
	stop atomic.Bool
	done chan error
}

// CompletionOptions size the ring's provided buffers (uring defaults when
// zero).
type CompletionOptions struct {
	Buffers, BufferSize int
}

// Addr returns the address the server listens on.
func (s *CompletionServer) Addr() string { return s.addr }

// Close stops the loop (it wakes the loop with a connection of its own),
// closes every connection and the listener.
func (s *CompletionServer) Close(ctx context.Context) error {
	s.stop.Store(true)
	// Wake the loop: a connection that closes at once is a completion.
	if c, err := net.DialTimeout("tcp4", s.addr, time.Second); err == nil {
		_ = c.Close() // its accept was the completion; nothing was sent
	}
	var err error
	select {
	case err = <-s.done:
	case <-ctx.Done():
		err = fmt.Errorf("echo: completion server: %w", ctx.Err())
	}
	return errors.Join(err, s.lf.Close(), s.ln.Close())
}
