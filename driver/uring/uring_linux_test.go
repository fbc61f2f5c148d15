package uring

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

func TestPollableUnlessDeferTaskrun(t *testing.T) {
	for _, opts := range []Options{{}, {CoopTaskrun: true}, {SingleIssuer: true}, {DeferTaskrun: true}} {
		func() {
			d, err := openLocked(opts)(driver.Config{Events: 8})
			if err != nil {
				t.Fatal(err)
			}
			defer closeOK(t, "driver", d.Close)
			if _, ok := d.(driver.Pollable); ok == opts.DeferTaskrun {
				t.Errorf("%+v: implements driver.Pollable = %v, want %v", opts, ok, !opts.DeferTaskrun)
			}
		}()
	}
}

// TestOverflowLosesNothing fires more fds than the CQ holds, without
// reaping in between, and checks that every one is reported.
func TestOverflowLosesNothing(t *testing.T) {
	d, err := New(driver.Config{Events: 8}, Options{Entries: 8, CQEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, "driver", d.Close)
	const n = 100
	fds := map[int32]bool{}
	for range n {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer closeFdOK(t, fd)
		fds[int32(fd)] = true
		if err := d.Add(fd, driver.None, driver.Readable); err != nil {
			t.Fatal(err)
		}
	}
	evs := make([]driver.Event, 16)
	if _, err := d.Wait(evs, 0); err != nil { // submit the registrations
		t.Fatal(err)
	}
	var one [8]byte
	one[0] = 1
	for fd := range fds {
		if _, err := unix.Write(int(fd), one[:]); err != nil {
			t.Fatal(err)
		}
	}
	fired := map[int32]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(fired) < n && time.Now().Before(deadline) {
		k, err := d.Wait(evs, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs[:k] {
			if !fds[ev.Fd] || ev.Mask != driver.Readable {
				t.Fatalf("unexpected event %v", ev)
			}
			fired[ev.Fd] = true
		}
	}
	if len(fired) != n {
		t.Fatalf("%d of %d eventfds reported after a CQ overflow", len(fired), n)
	}
	// The polls ended by the overflow were re-armed: a second round fires too.
	for fd := range fds {
		var b [8]byte
		_, _ = unix.Read(int(fd), b[:])
		if _, err := unix.Write(int(fd), one[:]); err != nil {
			t.Fatal(err)
		}
	}
	clear(fired)
	for len(fired) < n && time.Now().Before(deadline) {
		k, err := d.Wait(evs, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs[:k] {
			fired[ev.Fd] = true
		}
	}
	if len(fired) != n {
		t.Fatalf("second round: %d of %d eventfds reported", len(fired), n)
	}
}

func TestSetupFailedUnsupported(t *testing.T) {
	for _, tc := range []struct {
		errno       unix.Errno
		flags       uint32
		unsupported bool
	}{
		{unix.ENOSYS, 0, true},
		{unix.EPERM, 0, true},
		{unix.EINVAL, setupSingleIssuer | setupDeferTaskrun, true},
		{unix.EINVAL, 0, false},
		{unix.ENOMEM, 0, false},
	} {
		err := setupFailed(&setupError{errno: tc.errno}, tc.flags)
		var u *driver.UnsupportedError
		if errors.As(err, &u) != tc.unsupported {
			t.Errorf("setup %v with flags %#x: %v; unsupported = %v, want %v", tc.errno, tc.flags, err, !tc.unsupported, tc.unsupported)
		}
		if !errors.Is(err, tc.errno) {
			t.Errorf("setup %v: %v does not wrap the errno", tc.errno, err)
		}
	}
}

// TestWithCleanup: a failed setup's cleanup error joins the failure, and
// an unsupported failure keeps the type New and NewCompletion document.
func TestWithCleanup(t *testing.T) {
	cerr := errors.New("close failed")
	if err := withCleanup(unsupported(unix.ENOSYS), nil); err.Error() != unsupported(unix.ENOSYS).Error() {
		t.Errorf("no cleanup error: %v, want the failure alone", err)
	}
	err := withCleanup(unsupported(unix.ENOSYS), cerr)
	if _, ok := err.(*driver.UnsupportedError); !ok || !errors.Is(err, unix.ENOSYS) || !errors.Is(err, cerr) {
		t.Errorf("unsupported failure and a cleanup error: %T %v, want a *driver.UnsupportedError wrapping both", err, err)
	}
	err = withCleanup(unix.ENOMEM, cerr)
	var u *driver.UnsupportedError
	if errors.As(err, &u) || !errors.Is(err, unix.ENOMEM) || !errors.Is(err, cerr) {
		t.Errorf("other failure and a cleanup error: %v, want both joined, not unsupported", err)
	}
}

// TestOpenOneThread checks that the registered driver turns CoopTaskrun
// on only when Config.OneThread promises a locked thread.
func TestOpenOneThread(t *testing.T) {
	for _, one := range []bool{false, true} {
		d, err := driver.Open(Name, driver.Config{Events: 16, OneThread: one})
		var u *driver.UnsupportedError
		if errors.As(err, &u) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := d.(pollableDriver).opts.CoopTaskrun; got != one {
			t.Errorf("OneThread %v: CoopTaskrun = %v", one, got)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// closeOK runs close, deferred or in a Cleanup, and reports its error.
func closeOK(t *testing.T, what string, close func() error) {
	t.Helper()
	if err := close(); err != nil {
		t.Errorf("close %s: %v", what, err)
	}
}

// closeFdOK closes fd, deferred or in a Cleanup, and reports its error.
func closeFdOK(t *testing.T, fd int) {
	t.Helper()
	if err := unix.Close(fd); err != nil {
		t.Errorf("close fd %d: %v", fd, err)
	}
}
