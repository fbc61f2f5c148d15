package epoll_test

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
	_ "github.com/gomsgr/gomsgr/driver/epoll" // registers "epoll"
)

// Example watches a pipe: one write fires the read end once.
func Example() {
	d, err := driver.Open("epoll", driver.Config{Events: 16})
	if err != nil {
		panic(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		panic(err)
	}
	if err := d.Add(p[0], driver.None, driver.Readable); err != nil {
		panic(err)
	}
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		panic(err)
	}
	events := make([]driver.Event, 8)
	n, err := d.Wait(events, time.Second)
	fmt.Println(n, err, events[0].Fd == int32(p[0]), events[0].Mask)
	if err := errors.Join(unix.Close(p[0]), unix.Close(p[1]), d.Close()); err != nil {
		fmt.Println("close:", err)
	}
	// Output: 1 <nil> true R
}
