package uring

import (
	"errors"
	"runtime"
	"testing"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/driver/drivertest"
)

func TestConformance(t *testing.T) { drivertest.Run(t, open) }

// The setup flags that need the ring's owner locked to one OS thread run
// the same suite with the driver built on a locked thread.
func TestConformanceSingleIssuer(t *testing.T) {
	drivertest.Run(t, openLocked(Options{SingleIssuer: true}))
}

func TestConformanceDeferTaskrun(t *testing.T) {
	drivertest.Run(t, openLocked(Options{SingleIssuer: true, DeferTaskrun: true}))
}

func TestConformanceCoopTaskrun(t *testing.T) {
	drivertest.Run(t, openLocked(Options{CoopTaskrun: true}))
}

// A tiny SQ: every Add beyond 4 submits early. (A CQ overflow is tested in
// TestOverflowLosesNothing: the re-armed polls may repeat an event, which
// the suite's exactly-once cases would reject.)
func TestConformanceTinySQ(t *testing.T) {
	drivertest.Run(t, func(cfg driver.Config) (driver.Driver, error) {
		return New(cfg, Options{Entries: 4})
	})
}

// lockedDriver keeps the goroutine that built the driver on its OS thread
// until Close, as SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN need.
type lockedDriver struct{ driver.Driver }

func (l lockedDriver) Close() error {
	err := l.Driver.Close()
	runtime.UnlockOSThread()
	return err
}

// lockedPollable is a lockedDriver that keeps driver.Pollable.
type lockedPollable struct {
	lockedDriver
	driver.Pollable
}

func openLocked(opts Options) drivertest.Factory {
	return func(cfg driver.Config) (driver.Driver, error) {
		runtime.LockOSThread()
		d, err := New(cfg, opts)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		if p, ok := d.(driver.Pollable); ok {
			return lockedPollable{lockedDriver{d}, p}, nil
		}
		return lockedDriver{d}, nil
	}
}

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

func BenchmarkWakeParked(b *testing.B) { drivertest.BenchWakeParked(b, open) }

func BenchmarkWakeParkedCoopTaskrun(b *testing.B) {
	drivertest.BenchWakeParked(b, openLocked(Options{CoopTaskrun: true}))
}

func BenchmarkWakeParkedSingleIssuer(b *testing.B) {
	drivertest.BenchWakeParked(b, openLocked(Options{SingleIssuer: true}))
}

func BenchmarkWakeCoopTaskrun(b *testing.B) {
	drivertest.BenchWake(b, openLocked(Options{CoopTaskrun: true}))
}

func BenchmarkWakeSingleIssuer(b *testing.B) {
	drivertest.BenchWake(b, openLocked(Options{SingleIssuer: true}))
}

func BenchmarkWakeSingleIssuerCoop(b *testing.B) {
	drivertest.BenchWake(b, openLocked(Options{SingleIssuer: true, CoopTaskrun: true}))
}

func BenchmarkWakeDeferTaskrun(b *testing.B) {
	drivertest.BenchWake(b, openLocked(Options{DeferTaskrun: true}))
}

// BenchmarkWakeLocked is the default flags with the owner locked, to tell
// the flags' effect from the thread locking's.
func BenchmarkWakeLocked(b *testing.B) { drivertest.BenchWake(b, openLocked(Options{})) }
