package center

import (
	"bytes"
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// TestCompletionMode runs a socket pair in completion mode on a uring
// center, in both wait modes: what one end sends the other receives, in
// order; Quiesce runs its function only after the armed receive ended, and
// the fd can then be closed; on epoll IOCompletion is readiness.
func TestCompletionMode(t *testing.T) {
	for _, w := range []WaitMode{WaitPoller, WaitThread} {
		t.Run(w.String(), func(t *testing.T) {
			c := start(t, Config{Driver: "uring", Wait: w, IO: IOCompletion})
			if !c.Completion() {
				t.Fatal("a uring center with IOCompletion is not in completion mode")
			}
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { must(t, unix.Close(fds[0])) }()
			got := make(chan []byte, 64)
			sent := make(chan int32, 1)
			quiesced := make(chan bool, 1)
			want := bytes.Repeat([]byte("0123456789"), 10000)
			run(t, c, func() {
				must(t, c.Recv(fds[1], func(cp *driver.Completion) {
					if cp.Res > 0 {
						got <- bytes.Clone(cp.Data)
					}
					c.Release(cp)
				}))
				must(t, c.Send(fds[0], [][]byte{want[:5], want[5:]}, func(cp *driver.Completion) { sent <- cp.Res }))
			})
			if r := <-sent; r != int32(len(want)) {
				t.Fatalf("send completed with %d, want %d", r, len(want))
			}
			var all []byte
			for len(all) < len(want) {
				select {
				case b := <-got:
					all = append(all, b...)
				case <-time.After(10 * time.Second):
					t.Fatalf("received %d of %d bytes", len(all), len(want))
				}
			}
			if !bytes.Equal(all, want) {
				t.Fatal("received bytes differ")
			}
			run(t, c, func() {
				must(t, c.Quiesce(fds[1], func() { quiesced <- true }))
				select {
				case <-quiesced:
					t.Error("Quiesce ran its function while the receive was armed")
				default:
				}
			})
			select {
			case <-quiesced:
			case <-time.After(10 * time.Second):
				t.Fatal("Quiesce's function did not run")
			}
			if err := unix.Close(fds[1]); err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.Completions < 2 {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
	t.Run("epoll", func(t *testing.T) {
		c := start(t, Config{Driver: "epoll", IO: IOCompletion})
		if c.Completion() {
			t.Fatal("an epoll center claims completion mode")
		}
	})
}

// run runs fn on the loop and waits for it.
func run(t *testing.T, c *Center, fn func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.SubmitWait(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}
