package monc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/monc"
	"github.com/gomsgr/gomsgr/msgr2"
)

// The mon is killed and restarted: the lossy session is reset, requests
// made while the mon is down wait and then go out on the new session,
// requests fail with ErrNoSession once ReadyTimeout passes without a mon,
// and calls work again after the restart.
func TestMonRestart(t *testing.T) {
	mon := cephtest.StartMon(t)
	forEach(t, func(t *testing.T, o monc.Options) {
		o.ReadyTimeout = 30 * time.Second // longer than any restart
		c := dialUnchecked(t, mon, o)
		mustOK(t, c, `{"prefix": "version"}`)

		// Killed: the session resets; a request waits for the next session.
		if err := mon.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the session reset after the kill", func() bool { return c.Stats().Faults >= 1 })
		done := make(chan error, 1)
		go func() {
			_, _, err := c.GetVersion(testCtx(t, 30*time.Second), "monmap")
			done <- err
		}()
		waitFor(t, "a refused attempt while the mon is down", func() bool { return c.Stats().Faults >= 2 })
		mon.Restart(t)
		if err := <-done; err != nil {
			t.Fatalf("GetVersion across the restart: %v", err)
		}
		mustOK(t, c, `{"prefix": "version"}`)
		if s := c.Stats(); s.Sessions < 2 {
			t.Errorf("stats %+v, want a second session", s)
		}

		// A request in flight when the mon dies is sent again on the next
		// session: the mon is stopped (SIGSTOP) so that the request is
		// written but not answered, then killed and restarted.
		resent := c.Stats().Resent
		if err := syscall.Kill(mon.PID(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		key := "gomsgr/inflight/" + o.Driver + fmt.Sprint(o.NoRevision1)
		go func() {
			r, err := c.Command(testCtx(t, 30*time.Second), `{"prefix": "config-key set", "key": "`+key+`", "val": "x"}`)
			if err == nil {
				err = r.Err()
			}
			done <- err
		}()
		time.Sleep(200 * time.Millisecond) // written to the stopped mon's socket
		if err := mon.Kill(); err != nil {
			t.Fatal(err)
		}
		mon.Restart(t)
		if err := <-done; err != nil {
			t.Fatalf("a command in flight across a mon crash: %v", err)
		}
		if s := c.Stats(); s.Resent <= resent {
			t.Errorf("stats %+v: want the in-flight command resent", s)
		}
		if out := ceph(t, mon, "config-key", "get", key); strings.TrimSpace(string(out)) != "x" {
			t.Errorf("config-key get %s = %q after the resend", key, out)
		}

		// Down for longer than ReadyTimeout: the request fails, saying why.
		o.ReadyTimeout = time.Second
		short := dialUnchecked(t, mon, o)
		if err := mon.Kill(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := short.Command(testCtx(t, 30*time.Second), `{"prefix": "version"}`)
		if !errors.Is(err, monc.ErrNoSession) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Command with the mon down: %v, want ErrNoSession (connection refused)", err)
		}
		if d := time.Since(start); d > o.ReadyTimeout+500*time.Millisecond {
			t.Errorf("Command with the mon down failed after %v, want about ReadyTimeout (%v)", d, o.ReadyTimeout)
		}
		mon.Restart(t)
		mustOK(t, c, `{"prefix": "version"}`)
		mustOK(t, short, `{"prefix": "version"}`)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Context cancellation ends a wait at once, and a request that was
// cancelled does not disturb the next ones.
func TestCancel(t *testing.T) {
	c := dial(t, shared, monc.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Command(ctx, `{"prefix": "version"}`); !errors.Is(err, context.Canceled) {
		t.Errorf("Command with a cancelled context: %v", err)
	}

	// A server that completes no handshake: the request waits until its
	// deadline, well before the ready timeout.
	leakcheck.Check(t)
	addr := fakeServer(t, func(net.Conn) {})
	slow, err := monc.New(monc.Options{Addr: addr, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(t, slow)
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = slow.Command(ctx, `{"prefix": "version"}`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Command to a silent server: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	mustOK(t, c, `{"prefix": "version"}`)
}

// fakeServer accepts connections on a free loopback port and hands each to
// serve until the test ends.
func fakeServer(t *testing.T, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serve(nc) })
		}
	})
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		for _, nc := range conns {
			_ = nc.Close() // to end serve; serve may have closed it already
		}
		mu.Unlock()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// readFrame reads the client's banner and first frame (HELLO) off nc.
func readBannerAndHello(nc net.Conn) error {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		_, n, err := msgr2.ParseBanner(buf)
		if err == nil {
			buf = buf[n:]
			break
		}
		if err != msgr2.ErrShort {
			return err
		}
		k, err := nc.Read(tmp)
		if err != nil {
			return err
		}
		buf = append(buf, tmp[:k]...)
	}
	fr := msgr2.FrameReader{Rev: msgr2.Rev1}
	for {
		_, _, err := fr.Decode(buf)
		if err == nil {
			return nil
		}
		if err != msgr2.ErrShort {
			return err
		}
		k, err := nc.Read(tmp)
		if err != nil {
			return err
		}
		buf = append(buf, tmp[:k]...)
	}
}

// A server that is no mon fails Dial within the ready timeout with an error
// that says what went wrong, and leaves no goroutine and no fd behind.
func TestBadServer(t *testing.T) {
	rev1 := msgr2.AppendBanner(nil, msgr2.LocalBanner)
	// The fake servers' errors are ignored: their writes and reads fail
	// once the client gives up, and what the client says then is the test.
	cases := []struct {
		name  string
		serve func(net.Conn) // nil: nothing listens
		want  string
	}{
		{"nothing listening", nil, "connection refused"},
		{"closes at once", func(nc net.Conn) { _ = nc.Close() }, "session not established"},
		{"closes mid-handshake", func(nc net.Conn) {
			_, _ = nc.Write(rev1)
			_ = readBannerAndHello(nc)
			_ = nc.Close()
		}, "session not established"},
		{"unexpected frame", func(nc net.Conn) {
			out := append([]byte(nil), rev1...)
			out = msgr2.AppendControl(out, msgr2.Rev1, &msgr2.AuthDone{GlobalID: 1, ConMode: msgr2.ConModeCRC})
			_, _ = nc.Write(out)
			_, _ = io.Copy(io.Discard, nc)
		}, "protocol violation"},
		{"not msgr2", func(nc net.Conn) {
			_, _ = nc.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			_, _ = io.Copy(io.Discard, nc)
		}, "banner"},
		{"silent", func(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) }, "ready timeout"},
		{"hello from an osd", func(nc net.Conn) {
			out := append([]byte(nil), rev1...)
			out = msgr2.AppendControl(out, msgr2.Rev1, &msgr2.Hello{EntityType: msgr2.EntityOSD})
			_, _ = nc.Write(out)
			_, _ = io.Copy(io.Discard, nc)
		}, "wrong peer entity type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			var addr netip.AddrPort
			if tc.serve == nil {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = netip.MustParseAddrPort(ln.Addr().String())
				if err := ln.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				addr = fakeServer(t, tc.serve)
			}
			const ready = time.Second
			start := time.Now()
			c, err := monc.Dial(testCtx(t, 20*time.Second), monc.Options{Addr: addr, ReadyTimeout: ready})
			d := time.Since(start)
			if err == nil {
				t.Fatalf("Dial succeeded (Close: %v)", c.Close())
			}
			t.Logf("after %v: %v", d.Round(time.Millisecond), err)
			if !errors.Is(err, monc.ErrNoSession) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial: %v; want ErrNoSession saying %q", err, tc.want)
			}
			if d > ready+300*time.Millisecond {
				t.Errorf("Dial failed after %v, want within the ready timeout (%v) and a retry", d, ready)
			}
		})
	}
}
