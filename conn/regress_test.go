package conn_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/driver"
	"github.com/gomsgr/gomsgr/driver/epoll"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// TestSendOnStoppedWorker: a message sent to a connection whose worker no
// longer runs is refused with the cause (the center is closed), not
// reported sent and left in a queue nobody writes.
func TestSendOnStoppedWorker(t *testing.T) {
	leakcheck.Check(t)
	stack, err := center.NewStack(center.StackConfig{Name: "stopped", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 4}})
	must(t, srv.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	if err := srv.Bind(ctx, netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 4}, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	err = c.SendMessage(&gomsgr.Message{Type: 0x7001})
	if !errors.Is(err, center.ErrClosed) {
		t.Fatalf("SendMessage with the worker stopped: %v, want center.ErrClosed", err)
	}
	if err := cli.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReleasedMessageSendPanicsUnderRace: sending a message that was
// released (and may be another message already) panics in race builds.
func TestReleasedMessageSendPanicsUnderRace(t *testing.T) {
	if !raceEnabled {
		t.Skip("the poison check is on in race builds only")
	}
	srv := newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 5}})
	must(t, srv.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	if err := srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := srv.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0]) // loopback
	if err != nil {
		t.Fatal(err)
	}
	m := gomsgr.NewMessage(0x7001)
	m.Release()
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("SendMessage of a released message did not panic under -race")
		}
	}()
	_ = c.SendMessage(m)
}

// TestIdleTimeoutAfterReplacement: a session whose socket was replaced
// (the client reconnected with SESSION_RECONNECT and the server moved the
// new socket onto the existing session) still idles out. The replacement
// used to stamp the last read with the wall clock while the idle timer
// compares the loop's monotonic clock, so such a session never idled out.
func TestIdleTimeoutAfterReplacement(t *testing.T) {
	bothDrivers(t, func(t *testing.T, drv string) {
		leakcheck.Check(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 6}, Workers: 1,
			Center: centerCfg(drv), IdleTimeout: 500 * time.Millisecond}),
			gomsgr.StatefulServer(0), gomsgr.DispatcherFunc(func(m *gomsgr.Message) { m.Release() }))
		cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 6}, Workers: 1,
			Center: centerCfg(drv), InitialBackoff: 10 * time.Millisecond}), gomsgr.LosslessClient(0))
		c := openSession(ctx, t, cli, srv)
		// Fail the client's socket once: it reconnects to the same session,
		// and the server replaces the session's socket.
		cli.SetInject(testhooks.Inject{SocketFailures: 1})
		for i := 0; srv.SessionStats().Replacements == 0; i++ {
			if err := c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i)}); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				waitFor(t, 10*time.Second, "a reconnect", func() bool { return cli.SessionStats().Reconnects > 0 })
				cli.SetInject(testhooks.Inject{})
			}
			if ctx.Err() != nil {
				t.Fatalf("no replacement on the server (client %+v, server %+v)", cli.SessionStats(), srv.SessionStats())
			}
			time.Sleep(time.Millisecond)
		}
		if err := c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		// The client now says nothing: the server's session must idle out.
		waitFor(t, 20*time.Second, "the replaced session to idle out on the server", func() bool {
			return srv.Perf().Total().Get(perf.ConnectionIdleTimeouts) > 0
		})
	})
}

// errNoWritable is what the refuseWritable driver fails with.
var errNoWritable = errors.New("test driver: writable interest refused")

// refuseWritable is epoll refusing to add the writable interest to a
// socket already registered: the case of a driver out of memory just when
// a connection's socket is full.
type refuseWritable struct{ *epoll.Driver }

func (d refuseWritable) Add(fd int, cur, add driver.Mask) error {
	if cur != driver.None && add&driver.Writable != 0 {
		return errNoWritable
	}
	return d.Driver.Add(fd, cur, add)
}

func (refuseWritable) Name() string { return "test-refuse-writable" }

var registerRefuse sync.Once

// TestWriteInterestFailureFaults: when the socket is full and the driver
// refuses the writable interest, the connection fails with the driver's
// error instead of waiting forever for an edge that was never armed.
func TestWriteInterestFailureFaults(t *testing.T) {
	registerRefuse.Do(func() {
		driver.Register("test-refuse-writable", func(cfg driver.Config) (driver.Driver, error) {
			d, err := epoll.New(cfg)
			if err != nil {
				return nil, err
			}
			return refuseWritable{d}, nil
		})
	})
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The server stops reading: its dispatcher holds everything and the
	// dispatch throttle is small, so the client's socket fills up.
	release := make(chan struct{})
	srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 7}, Workers: 1,
		DispatchThrottleBytes: 64 << 10, RcvBufBytes: 4096}),
		gomsgr.StatelessServer(0), gomsgr.DispatcherFunc(func(m *gomsgr.Message) { <-release; m.Release() }))
	defer close(release)
	cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7}, Workers: 1,
		Center: center.Config{Driver: "test-refuse-writable", Wait: center.WaitThread}}), gomsgr.LossyClient(0))
	c := openSession(ctx, t, cli, srv)
	payload := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if err := c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: payload}); err != nil {
			break // closed: the fault came
		}
		if i > 1000 || ctx.Err() != nil {
			t.Fatalf("1 GB queued and the connection still open (Err %v)", c.Err())
		}
		if c.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, 10*time.Second, "the connection to fail", func() bool { return c.Err() != nil })
	if err := c.Err(); !errors.Is(err, errNoWritable) {
		t.Fatalf("connection failed with %v, want the driver's refusal", err)
	}
}

// openSession connects cli to srv's first address and waits until the
// session is open.
func openSession(ctx context.Context, t *testing.T, cli, srv gomsgr.Messenger) gomsgr.Connection {
	t.Helper()
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}
