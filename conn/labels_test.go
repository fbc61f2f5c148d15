package conn_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

// labelProbe fast-dispatches every message and, the first time, takes a
// goroutine profile from inside the callback.
type labelProbe struct {
	t    *testing.T
	prof chan []byte
}

func (p *labelProbe) Dispatch(m *gomsgr.Message) bool      { m.Release(); return true }
func (p *labelProbe) CanFastDispatch(*gomsgr.Message) bool { return true }
func (p *labelProbe) FastDispatch(m *gomsgr.Message) {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		p.t.Errorf("goroutine profile: %v", err) // on a worker: Error, not Fatal
	}
	select {
	case p.prof <- b.Bytes():
	default:
	}
	m.Release()
}

// TestFastDispatchLabels checks that a fast-dispatch callback runs with the
// pprof labels of its worker plus the messenger and gomsgr.dispatch=fast,
// so that CPU profiles tell dispatcher time from messenger time.
func TestFastDispatchLabels(t *testing.T) {
	leakcheck.Check(t)
	probe := &labelProbe{t: t, prof: make(chan []byte, 1)}
	srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 5}, Workers: 1}), gomsgr.Policy{}, probe)
	cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 5}, Workers: 1}), gomsgr.Policy{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001}))
	var prof []byte
	select {
	case prof = <-probe.prof:
	case <-ctx.Done():
		t.Fatal("no message fast-dispatched")
	}
	for _, want := range []string{`"gomsgr.dispatch":"fast"`, `"gomsgr.messenger":"osd.5"`, `"gomsgr.worker":"0"`} {
		if !bytes.Contains(prof, []byte(want)) {
			t.Fatalf("goroutine profile taken in FastDispatch lacks %s:\n%s", want, prof)
		}
	}
}
