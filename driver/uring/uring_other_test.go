//go:build !linux

package uring

import (
	"errors"
	"testing"

	"github.com/gomsgr/gomsgr/driver"
)

// TestNewUnsupported checks that off Linux New refuses with the error a
// caller falls back on.
func TestNewUnsupported(t *testing.T) {
	d, err := New(driver.Config{}, Options{})
	var u *driver.UnsupportedError
	if d != nil || !errors.As(err, &u) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("New = %v, %v; want nil and a *driver.UnsupportedError wrapping errors.ErrUnsupported", d, err)
	}
}
