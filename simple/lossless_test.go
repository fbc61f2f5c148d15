package simple_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/simple"
)

// events counts connection events by connection.
type events struct {
	mu  sync.Mutex
	evs map[gomsgr.Connection][]string
}

func (e *events) add(c gomsgr.Connection, ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.evs == nil {
		e.evs = map[gomsgr.Connection][]string{}
	}
	e.evs[c] = append(e.evs[c], ev)
}

func (e *events) of(c gomsgr.Connection) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.evs[c]...)
}

// total counts event ev over every connection.
func (e *events) total(ev string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, evs := range e.evs {
		for _, x := range evs {
			if x == ev {
				n++
			}
		}
	}
	return n
}

func (e *events) Dispatch(m *gomsgr.Message) bool {
	e.add(m.Conn, "message")
	m.Release()
	return true
}
func (e *events) HandleConnect(c gomsgr.Connection)      { e.add(c, "connect") }
func (e *events) HandleAccept(c gomsgr.Connection)       { e.add(c, "accept") }
func (e *events) HandleReset(c gomsgr.Connection) bool   { e.add(c, "reset"); return true }
func (e *events) HandleRemoteReset(c gomsgr.Connection)  { e.add(c, "remote_reset") }
func (e *events) HandleRefused(c gomsgr.Connection) bool { e.add(c, "refused"); return true }

// TestLossySessionReplaced: a server that registers its lossy clients
// (StatefulServer) closes a client's registered lossy session, with a
// reset, when the same client messenger opens a new one (Ceph's "existing
// is lossy, replacing it": session.Decide's StopExisting); the new session
// works, and the client sees the old one reset.
func TestLossySessionReplaced(t *testing.T) {
	leakcheck.Check(t)
	var se, ce events
	srv := msgrtest.Serve(t, newMsgr(t, simple.Options{Name: osd0}), gomsgr.StatefulServer(0), &se)
	cli := msgrtest.Start(t, newMsgr(t, simple.Options{Name: client1}), gomsgr.LossyClient(0), &ce)
	a1, err := cli.ConnectAnon(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.SendMessage(&gomsgr.Message{Type: 0x7001}); err != nil {
		t.Fatal(err)
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the first session's message", func() bool { return se.total("message") == 1 })
	a2, err := cli.ConnectAnon(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.SendMessage(&gomsgr.Message{Type: 0x7001}); err != nil {
		t.Fatal(err)
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the old lossy session's reset on the client", func() bool {
		evs := ce.of(a1)
		return len(evs) > 0 && evs[len(evs)-1] == "reset"
	})
	if err := a1.SendMessage(&gomsgr.Message{Type: 0x7001}); !errors.Is(err, gomsgr.ErrClosed) {
		t.Fatalf("SendMessage on the replaced session: %v, want ErrClosed", err)
	}
	// The server fails the old session while the new one's handshake
	// finishes: the reset may come before the new session is open.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a2.WaitReady(ctx); err != nil || !a2.IsConnected() {
		t.Fatalf("the new session did not open: %v (state %s)", err, a2.State())
	}
	msgrtest.WaitUntil(t, 10*time.Second, "the second session's message", func() bool { return se.total("message") == 2 })
	if resets := se.total("reset"); resets != 1 {
		t.Fatalf("server delivered %d resets, want 1 (the replaced session's)", resets)
	}
}
