package uring_test

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/driver/epoll"
	"github.com/gomsgr/gomsgr/driver/uring"
)

// Example opens the io_uring driver, falling back to epoll when the kernel
// refuses io_uring, and waits for an eventfd.
func Example() {
	var d driver.Driver
	d, err := uring.New(driver.Config{Events: 16}, uring.Options{})
	var unsup *driver.UnsupportedError
	if errors.As(err, &unsup) {
		d, err = epoll.New(driver.Config{Events: 16})
	}
	if err != nil {
		panic(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	if err := d.Add(efd, driver.None, driver.Readable); err != nil {
		panic(err)
	}
	if _, err := unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		panic(err)
	}
	events := make([]driver.Event, 8)
	n, err := d.Wait(events, time.Second) // submits the Add, then waits
	fmt.Println(n, err, events[0].Mask)
	if err := errors.Join(unix.Close(efd), d.Close()); err != nil {
		fmt.Println("close:", err)
	}
	// Output: 1 <nil> R
}
