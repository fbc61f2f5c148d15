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
	for _, s := range []string{"hello, ", "world"} {
		if _, err := fdio.Write(fds[0], []byte(s)); err != nil {
			panic(err)
		}
	}

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
	for _, fd := range fds {
		if err := unix.Close(fd); err != nil {
			fmt.Println("close:", err)
		}
	}
	// Output: hello, world
}
