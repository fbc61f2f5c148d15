package epoll

import (
	"errors"
	"runtime"
	"testing"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/driver/drivertest"
)

func TestConformance(t *testing.T) { drivertest.Run(t, open) }

func TestOpenRegistered(t *testing.T) {
	d, err := driver.Open(Name, driver.Config{Events: 16})
	var u *driver.UnsupportedError
	if errors.As(err, &u) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != Name {
		t.Errorf("Name() = %q, want %q", d.Name(), Name)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkWake(b *testing.B) { drivertest.BenchWake(b, open) }

func BenchmarkPipePingPong(b *testing.B) { drivertest.BenchPipePingPong(b, open) }

// BenchmarkWakeLocked runs the owner locked to its OS thread, for comparison
// with the uring variants that need it.
func BenchmarkWakeLocked(b *testing.B) {
	drivertest.BenchWake(b, func(cfg driver.Config) (driver.Driver, error) {
		runtime.LockOSThread()
		d, err := New(cfg)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		return lockedDriver{d}, nil
	})
}

type lockedDriver struct{ *Driver }

func (l lockedDriver) Close() error {
	err := l.Driver.Close()
	runtime.UnlockOSThread()
	return err
}

func BenchmarkWakeParked(b *testing.B) { drivertest.BenchWakeParked(b, open) }
