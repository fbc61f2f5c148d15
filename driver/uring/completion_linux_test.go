package uring

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// newCompletion makes a Completion for the test on the calling goroutine's
// locked thread (CoopTaskrun), skipping when the kernel lacks the features.
func newCompletion(t *testing.T, opts CompletionOptions) *Completion {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	opts.Ring.CoopTaskrun = true
	c, err := NewCompletion(opts)
	var u *driver.UnsupportedError
	if errors.As(err, &u) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// waitFor collects completions until want have come or 5 s passed.
func waitFor(t *testing.T, c *Completion, want int) []Completed {
	t.Helper()
	var got []Completed
	buf := make([]Completed, 16)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d completions after 5s: %+v", len(got), want, got)
		}
		n, err := c.Wait(buf, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	return got
}

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFdOK(t, fds[0]); closeFdOK(t, fds[1]) })
	return fds[0], fds[1]
}

// TestCompletionRecvSend receives through a multishot receive, echoes the
// provided buffer with Send, and sees the end of file.
func TestCompletionRecvSend(t *testing.T) {
	c := newCompletion(t, CompletionOptions{Buffers: 8, BufferSize: 64})
	a, b := socketPair(t)
	if err := c.Recv(a, 7); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ { // more rounds than buffers: they come back
		msg := []byte("ping " + string(rune('a'+round)))
		if _, err := unix.Write(b, msg); err != nil {
			t.Fatal(err)
		}
		got := waitFor(t, c, 1)
		r := got[0]
		if r.Op != OpRecv || r.Tag != 7 || r.Res != int32(len(msg)) || !r.More || !bytes.Equal(r.Data, msg) {
			t.Fatalf("round %d: %+v (data %q)", round, r, r.Data)
		}
		if err := c.Send(a, r.Data, 9); err != nil {
			t.Fatal(err)
		}
		sent := waitFor(t, c, 1)[0]
		if sent.Op != OpSend || sent.Tag != 9 || sent.Res != int32(len(msg)) {
			t.Fatalf("round %d: send completion %+v", round, sent)
		}
		c.Release(&r)
		echo := make([]byte, 64)
		n, err := unix.Read(b, echo)
		if err != nil || !bytes.Equal(echo[:n], msg) {
			t.Fatalf("round %d: echo %q, %v", round, echo[:n], err)
		}
	}
	if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	eof := waitFor(t, c, 1)[0]
	if eof.Op != OpRecv || eof.Res != 0 || eof.More {
		t.Fatalf("end of file: %+v", eof)
	}
}

// TestCompletionNoBuffers lets the provided buffers run out: the receive
// ends with -ENOBUFS, and after the buffers come back and the receive is
// armed again every byte arrives, in order.
func TestCompletionNoBuffers(t *testing.T) {
	c := newCompletion(t, CompletionOptions{Buffers: 2, BufferSize: 16})
	a, b := socketPair(t)
	want := make([]byte, 200)
	for i := range want {
		want[i] = byte(i)
	}
	if err := c.Recv(a, 1); err != nil {
		t.Fatal(err)
	}
	var got []byte
	sawNoBufs := false
	off := 0
	buf := make([]Completed, 8)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d bytes", len(got), len(want))
		}
		if off < len(want) {
			// 16 bytes at a time, each in its own buffer.
			end := min(off+16, len(want))
			if n, err := unix.Write(b, want[off:end]); n != end-off || err != nil {
				t.Fatalf("write of bytes %d to %d: %d, %v", off, end, n, err)
			}
			off = end
		}
		n, err := c.Wait(buf, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			r := &buf[i]
			switch {
			case r.Res > 0:
				got = append(got, r.Data...)
				if !sawNoBufs {
					continue // hold the buffer: they run out
				}
				c.Release(r)
			case r.Res == -int32(unix.ENOBUFS):
				if r.More {
					t.Fatalf("ENOBUFS with More set: %+v", r)
				}
				sawNoBufs = true
				// Give every buffer back and arm again.
				c.ReleaseBuffer(0)
				c.ReleaseBuffer(1)
				if err := c.Recv(a, 1); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("unexpected completion %+v", r)
			}
		}
	}
	if !sawNoBufs {
		t.Fatal("the buffers never ran out")
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes out of order or lost:\n got %v\nwant %v", got, want)
	}
}

// TestCompletionAccept takes several connections through one multishot
// accept.
func TestCompletionAccept(t *testing.T) {
	c := newCompletion(t, CompletionOptions{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, "listener", ln.Close)
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, "listener file", f.Close)
	if err := c.Accept(int(f.Fd()), 3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer closeOK(t, "client connection", d.Close)
	}
	for _, r := range waitFor(t, c, 3) {
		if r.Op != OpAccept || r.Tag != 3 || r.Res < 0 || !r.More {
			t.Fatalf("accept completion %+v", r)
		}
		closeFdOK(t, int(r.Res))
	}
}

func TestCompletionOptions(t *testing.T) {
	if _, err := NewCompletion(CompletionOptions{Buffers: 3}); err == nil {
		t.Fatal("Buffers 3 accepted")
	}
}

// TestCompletionSendPins sends a buffer that lived on the sender's stack
// and is dropped as soon as Send returns, larger than the socket holds, so
// that the kernel reads most of it long after Send returned. Without the
// pin the stack is reused (clobber) and garbage reaches the peer.
func TestCompletionSendPins(t *testing.T) {
	c := newCompletion(t, CompletionOptions{})
	a, b := socketPair(t)
	if err := unix.SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 0, pinnedSize)
		for len(buf) < pinnedSize {
			n, err := unix.Read(b, buf[len(buf):cap(buf)])
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				break
			}
			buf = buf[:len(buf)+n]
		}
		got <- buf
	}()
	sendFromStack(t, c, a)
	if n := c.sends.inFlight(); n != 1 {
		t.Fatalf("%d sends hold pins after Send, want 1", n)
	}
	for range 3 {
		clobber(byte(len(t.Name())))
		runtime.GC()
	}
	r := waitFor(t, c, 1)[0]
	if r.Op != OpSend || r.Tag != 42 || r.Res != pinnedSize {
		t.Fatalf("send completion %+v, want OpSend tag 42 res %d", r, pinnedSize)
	}
	if n := c.sends.inFlight(); n != 0 {
		t.Fatalf("%d sends hold pins after the completion, want 0", n)
	}
	data := <-got
	if len(data) != pinnedSize {
		t.Fatalf("peer read %d bytes, want %d", len(data), pinnedSize)
	}
	for i, v := range data {
		if v != pattern(i) {
			t.Fatalf("byte %d is %#x, want %#x: the kernel read memory that was freed or reused", i, v, pattern(i))
		}
	}
}

// pinnedSize fits a stack frame (the compiler keeps explicit arrays up to
// 128 KiB there) and is far more than a 4 KiB send buffer takes at once.
const pinnedSize = 96 << 10

func pattern(i int) byte { return byte(i*7 + i>>8 + 3) }

// sendFromStack sends an array of its own frame and returns: only the pin
// keeps the memory the kernel goes on reading.
//
//go:noinline
func sendFromStack(t *testing.T, c *Completion, fd int) {
	var buf [pinnedSize]byte
	for i := range buf {
		buf[i] = pattern(i)
	}
	if err := c.Send(fd, buf[:], 42); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(nil, 0); err != nil { // submit
		t.Fatal(err)
	}
}

// clobber overwrites the stack where sendFromStack's frame was.
//
//go:noinline
func clobber(v byte) byte {
	var junk [pinnedSize]byte
	for i := range junk {
		junk[i] = v ^ 0x5a
	}
	return junk[int(v)%len(junk)]
}
