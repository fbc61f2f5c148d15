package echo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// TestCompletionServer runs the echo clients against the completion-mode
// server, with the default buffers and with so few that receives run out
// of them (1 MiB messages through 4 buffers of 4 KiB).
func TestCompletionServer(t *testing.T) {
	for name, opts := range map[string]CompletionOptions{"default": {}, "4x4KiB": {Buffers: 4, BufferSize: 4096}} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			s, err := NewCompletionServer("127.0.0.1:0", opts)
			var u *driver.UnsupportedError
			if errors.As(err, &u) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			exercise(t, s.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Pipelined: 4 connections × 8 in flight, 1 KiB and 64 KiB.
			for _, size := range []int{1 << 10, 64 << 10} {
				if err := Pipeline(ctx, s.Addr(), 4, 8, size, 400); err != nil {
					t.Fatalf("pipeline of %d B: %v", size, err)
				}
			}
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
