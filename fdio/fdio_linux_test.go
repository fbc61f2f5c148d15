package fdio_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/fdio"
)

// pair returns a connected non-blocking stream socket pair, closed at the
// end of the test.
func pair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			if err := unix.Close(fd); err != nil {
				t.Errorf("close socket fd %d: %v", fd, err)
			}
		}
	})
	return fds[0], fds[1]
}

func TestReadWrite(t *testing.T) {
	a, b := pair(t)
	buf := make([]byte, 16)
	if n, err := fdio.Read(b, buf); n != 0 || err != unix.EAGAIN {
		t.Fatalf("read on empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := fdio.Write(a, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if n, err := fdio.Read(b, buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read = %d, %v, %q", n, err, buf[:n])
	}
	if n, err := fdio.Write(a, nil); n != 0 || err != nil {
		t.Fatalf("empty write = %d, %v", n, err)
	}
	if err := unix.Shutdown(a, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if n, err := fdio.Read(b, buf); n != 0 || err != nil {
		t.Fatalf("read after peer shutdown = %d, %v; want 0, nil (EOF)", n, err)
	}
}

func TestWriteFull(t *testing.T) {
	a, _ := pair(t)
	chunk := make([]byte, 64<<10)
	total := 0
	for i := 0; ; i++ {
		n, err := fdio.Write(a, chunk)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if i > 10000 {
			t.Fatal("the socket never filled up")
		}
	}
	if total == 0 {
		t.Fatal("nothing was written before EAGAIN")
	}
}

func TestVectored(t *testing.T) {
	a, b := pair(t)
	parts := [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}
	iovs := make([]unix.Iovec, len(parts))
	for i, p := range parts {
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
	}
	if n, err := fdio.Writev(a, iovs); n != 6 || err != nil {
		t.Fatalf("writev = %d, %v", n, err)
	}
	if n, err := fdio.Writev(a, nil); n != 0 || err != nil {
		t.Fatalf("empty writev = %d, %v", n, err)
	}
	x, y := make([]byte, 4), make([]byte, 4)
	in := []unix.Iovec{{Base: &x[0]}, {Base: &y[0]}}
	in[0].SetLen(4)
	in[1].SetLen(4)
	n, err := fdio.Readv(b, in)
	if n != 6 || err != nil {
		t.Fatalf("readv = %d, %v", n, err)
	}
	if got := append(x[:4:4], y[:2]...); !bytes.Equal(got, []byte("abcdef")) {
		t.Fatalf("readv read %q", got)
	}
}

func TestPollEpoll(t *testing.T) {
	a, b := pair(t)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Close(epfd); err != nil {
			t.Errorf("close epoll fd: %v", err)
		}
	}()
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, b, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(b)}); err != nil {
		t.Fatal(err)
	}
	evs := make([]unix.EpollEvent, 4)
	if n, err := fdio.PollEpoll(epfd, evs); n != 0 || err != nil {
		t.Fatalf("poll with nothing ready = %d, %v", n, err)
	}
	if n, err := fdio.Write(a, []byte("x")); n != 1 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	n, err := fdio.PollEpoll(epfd, evs)
	if n != 1 || err != nil || evs[0].Fd != int32(b) || evs[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("poll = %d, %v, %+v", n, err, evs[0])
	}
}

func TestBadDescriptor(t *testing.T) {
	buf := make([]byte, 1)
	if _, err := fdio.Read(-1, buf); err != unix.EBADF {
		t.Fatalf("read(-1) = %v; want EBADF", err)
	}
	if _, err := fdio.Write(-1, buf); err != unix.EBADF {
		t.Fatalf("write(-1) = %v; want EBADF", err)
	}
	if _, err := fdio.PollEpoll(-1, make([]unix.EpollEvent, 1)); err != unix.EBADF {
		t.Fatalf("epoll_wait(-1) = %v; want EBADF", err)
	}
}

func TestNoAllocs(t *testing.T) {
	a, b := pair(t)
	msg, buf := []byte("ping"), make([]byte, 16)
	allocs := testing.AllocsPerRun(1000, func() {
		if n, err := fdio.Write(a, msg); n != len(msg) || err != nil {
			t.Fatalf("write = %d, %v", n, err)
		}
		if n, err := fdio.Read(b, buf); n != len(msg) || err != nil {
			t.Fatalf("read = %d, %v", n, err)
		}
		if _, err := fdio.Read(b, buf); err != unix.EAGAIN {
			t.Fatal("want EAGAIN")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round trip; want 0", allocs)
	}
}

// BenchmarkRoundTrip writes and reads 64 bytes over a socket pair, with raw
// calls and with the ordinary unix.Read/unix.Write for comparison.
func BenchmarkRoundTrip(b *testing.B) {
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.Run("fdio", func(b *testing.B) {
		x, y := pair(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fdio.Write(x, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := fdio.Read(y, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unix", func(b *testing.B) {
		x, y := pair(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unix.Write(x, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := unix.Read(y, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLarge reads and writes more than RawMax in one call (the ordinary
// system call path) with the same results and errors as the raw one.
func TestLarge(t *testing.T) {
	a, b := pair(t)
	if err := unix.SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, fdio.RawMax+1)
	for i := range big {
		big[i] = byte(i)
	}
	n, err := fdio.Write(a, big)
	if err != nil || n <= 0 {
		t.Fatalf("large write = %d, %v", n, err)
	}
	got := make([]byte, 0, n)
	buf := make([]byte, fdio.RawMax+1)
	for len(got) < n {
		k, err := fdio.Read(b, buf)
		if err != nil {
			t.Fatalf("large read after %d of %d bytes: %v", len(got), n, err)
		}
		got = append(got, buf[:k]...)
	}
	if !bytes.Equal(got, big[:n]) {
		t.Fatal("large write and read do not match")
	}
	if _, err := fdio.Read(b, buf); err != unix.EAGAIN {
		t.Fatalf("large read on an empty socket: %v, want EAGAIN", err)
	}
	iov := []unix.Iovec{{Base: &big[0]}}
	iov[0].SetLen(len(big))
	if n, err := fdio.Writev(a, iov); err != nil || n <= 0 {
		t.Fatalf("large writev = %d, %v", n, err)
	}
}
