package fdio_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
)

// Reading a non-blocking socket until it is drained, as an event handler
// does after a readable edge.
func Example() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	fdio.Write(fds[0], []byte("hello, "))
	fdio.Write(fds[0], []byte("world"))

	buf := make([]byte, 4)
	var got []byte
	for {
		n, err := fdio.Read(fds[1], buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break // drained: wait for the next edge
		}
		if err != nil || n == 0 {
			break // error or end of file: close the connection
		}
		got = append(got, buf[:n]...)
	}
	fmt.Println(string(got))
	// Output: hello, world
}
