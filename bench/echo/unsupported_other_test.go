//go:build !linux

package echo

import (
	"context"
	"errors"
	"testing"

	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/driver"
)

// TestUnsupported checks that off Linux the event-loop and completion-mode
// servers and PinSelf refuse with errors wrapping errors.ErrUnsupported, the
// completion server's being the *driver.UnsupportedError that tests and
// bench/peers skip on, and that the standard library's server still echoes.
func TestUnsupported(t *testing.T) {
	if s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "echo-test", Workers: 1}); s != nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewServer = %v, %v; want nil and an error wrapping errors.ErrUnsupported", s, err)
	}
	if err := (&Server{}).Close(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Server.Close = %v, want an error wrapping errors.ErrUnsupported", err)
	}
	var u *driver.UnsupportedError
	if s, err := NewCompletionServer("127.0.0.1:0", CompletionOptions{}); s != nil || !errors.As(err, &u) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewCompletionServer = %v, %v; want nil and a *driver.UnsupportedError wrapping errors.ErrUnsupported", s, err)
	}
	if err := PinSelf(0); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("PinSelf = %v, want an error wrapping errors.ErrUnsupported", err)
	}
	s, err := NewStdServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s.Addr())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
