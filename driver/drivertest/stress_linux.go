package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

const (
	stressClients  = 16
	stressMessages = 10000 // in total, over all clients
	stressMaxBytes = 8 << 10
	stressTimeout  = 120 * time.Second
)

func verifyNoLeak(t interface {
	Helper()
	Errorf(string, ...any)
}) {
	t.Helper()
	if err := goleak.Find(); err != nil {
		t.Errorf("goroutine leak: %v", err)
	}
}

// echoConn is the server side of one stress connection.
type echoConn struct {
	fd   int
	mask driver.Mask
	out  []byte // echo bytes not yet written
}

// testStressEcho: one driver runs an echo loop on the owner goroutine for 16
// client goroutines that send 10,000 random messages of random sizes in
// total; every echo is checked byte-exact.
func testStressEcho(h *harness) {
	lfd, port := h.listen()
	h.add(lfd, driver.None, driver.Readable)
	results := make(chan error, stressClients)
	for i := range stressClients {
		n := stressMessages / stressClients
		if i < stressMessages%stressClients {
			n++
		}
		go func() { results <- echoClient(port, uint64(i), n) }()
	}
	conns := map[int]*echoConn{}
	buf := make([]byte, 64<<10)
	finished := 0
	var failure error
	deadline := time.Now().Add(stressTimeout)
	for finished < stressClients || len(conns) > 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("stress echo: %d of %d clients finished, %d connections open after %v", finished, stressClients, len(conns), stressTimeout)
		}
		select {
		case err := <-results:
			finished++
			if err != nil && failure == nil {
				failure = err
			}
		default:
		}
		for _, ev := range h.wait(10 * time.Millisecond) {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if errors.Is(err, unix.EAGAIN) {
						break
					}
					if err != nil {
						h.t.Fatalf("accept: %v", err)
					}
					h.track(nfd)
					conns[nfd] = &echoConn{fd: nfd, mask: driver.Readable}
					h.add(nfd, driver.None, driver.Readable)
				}
				continue
			}
			c := conns[fd]
			if c == nil {
				h.t.Fatalf("event %v for an fd that is not a connection", ev)
			}
			if ev.Mask&c.mask == 0 {
				// The driver reported a condition we do not watch: allowed
				// only for errors (RWH).
				if ev.Mask != driver.ReadWrite|driver.Hangup {
					h.t.Fatalf("fd %d fired %v with interest %v", fd, ev.Mask, c.mask)
				}
			}
			eof := false
			for !eof {
				n, err := unix.Read(fd, buf)
				if errors.Is(err, unix.EAGAIN) {
					break
				}
				if err != nil {
					h.t.Fatalf("server read: %v", err)
				}
				if n == 0 {
					eof = true
					break
				}
				c.out = append(c.out, buf[:n]...)
			}
			for len(c.out) > 0 {
				n, err := unix.Write(fd, c.out)
				if errors.Is(err, unix.EAGAIN) {
					break
				}
				if err != nil {
					h.t.Fatalf("server write: %v", err)
				}
				c.out = c.out[n:]
			}
			switch {
			case eof:
				h.del(fd, c.mask, c.mask)
				h.closeFd(fd)
				delete(conns, fd)
			case len(c.out) > 0 && c.mask&driver.Writable == 0:
				h.add(fd, c.mask, driver.Writable)
				c.mask |= driver.Writable
			case len(c.out) == 0 && c.mask&driver.Writable != 0:
				h.del(fd, c.mask, driver.Writable)
				c.mask &^= driver.Writable
			}
		}
	}
	if failure != nil {
		h.t.Fatalf("stress echo client: %v", failure)
	}
}

// echoClient sends n random messages of random sizes on a blocking socket,
// reading each echo back before the next, and checks them byte-exact.
func echoClient(port int, seed uint64, n int) (err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("client %d: socket: %w", seed, err)
	}
	defer func() {
		if cerr := unix.Close(fd); cerr != nil {
			err = errors.Join(err, fmt.Errorf("client %d: close: %w", seed, cerr))
		}
	}()
	tv := unix.NsecToTimeval(int64(stressTimeout))
	// The timeouts end a client whose echo never comes, instead of the test.
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fmt.Errorf("client %d: set timeout: %w", seed, err)
		}
	}
	if err := blockingConnect(fd, port); err != nil {
		return fmt.Errorf("client %d: connect: %w", seed, err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	msg := make([]byte, stressMaxBytes)
	echo := make([]byte, stressMaxBytes)
	for i := range n {
		size := 1 + rng.IntN(stressMaxBytes)
		for j := range msg[:size] {
			msg[j] = byte(rng.Uint32())
		}
		for off := 0; off < size; {
			k, err := unix.Write(fd, msg[off:size])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("client %d message %d: write: %w", seed, i, err)
			}
			off += k
		}
		for off := 0; off < size; {
			k, err := unix.Read(fd, echo[off:size])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("client %d message %d: read: %w", seed, i, err)
			}
			if k == 0 {
				return fmt.Errorf("client %d message %d: EOF after %d of %d bytes", seed, i, off, size)
			}
			off += k
		}
		if !bytes.Equal(msg[:size], echo[:size]) {
			return fmt.Errorf("client %d message %d: echo of %d bytes differs", seed, i, size)
		}
	}
	return nil
}

// blockingConnect connects a blocking socket. A blocking connect with
// SO_SNDTIMEO set returns EINTR when the thread is interrupted, which happens
// to any Go thread that io_uring sends task work to; the connect then goes
// on in the background and is waited for with poll.
func blockingConnect(fd, port int) error {
	err := unix.Connect(fd, &unix.SockaddrInet4{Addr: loopback, Port: port})
	for errors.Is(err, unix.EINTR) || errors.Is(err, unix.EALREADY) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err = unix.Poll(p, int(stressTimeout/time.Millisecond)); err != nil {
			continue
		}
		var v int
		if v, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
			err = unix.Errno(v)
		}
	}
	return err
}
