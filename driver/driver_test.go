package driver_test

import (
	"errors"
	"testing"

	"github.com/gomsgr/gomsgr/driver"
	_ "github.com/gomsgr/gomsgr/driver/epoll"
)

func TestRegistry(t *testing.T) {
	names := driver.Names()
	if len(names) == 0 || names[0] != "epoll" {
		t.Fatalf("Names() = %v, want epoll registered", names)
	}
	d, err := driver.Open("epoll", driver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "epoll" {
		t.Fatalf("Name() = %q", d.Name())
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := driver.Open("nope", driver.Config{}); !errors.Is(err, driver.ErrUnknown) {
		t.Fatalf("Open(nope) = %v, want ErrUnknown", err)
	}
	u := &driver.UnsupportedError{Driver: "x", Err: errors.ErrUnsupported}
	if !errors.Is(u, errors.ErrUnsupported) || u.Error() == "" {
		t.Fatalf("UnsupportedError does not unwrap: %v", u)
	}
}

func TestMaskString(t *testing.T) {
	for m, want := range map[driver.Mask]string{driver.None: "-", driver.Readable: "R", driver.Writable: "W", driver.ReadWrite: "RW"} {
		if m.String() != want {
			t.Fatalf("%d.String() = %q, want %q", m, m.String(), want)
		}
	}
}
