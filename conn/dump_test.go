package conn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/perf"
)

// TestDumpAndCounters exchanges messages and checks that the messenger dump
// and the perf counters report them.
func TestDumpAndCounters(t *testing.T) {
	leakcheck.Check(t)
	start := time.Now()
	got := make(chan *gomsgr.Message, 10)
	srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 2}, Workers: 2}),
		gomsgr.Policy{}, gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m }))
	// SampleEvery 1: every message's queue latency is timed.
	cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 9}, Workers: 1, SampleEvery: 1}),
		gomsgr.Policy{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	for i := 0; i < 3; i++ {
		must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Data: make([]byte, 100)}))
	}
	for i := 0; i < 3; i++ {
		select {
		case m := <-got:
			m.Release()
		case <-ctx.Done():
			t.Fatal("messages did not arrive")
		}
	}
	// Counts reach the counters at the end of the worker's handler run,
	// which may be a moment after the dispatcher got the messages.
	waitFor(t, 5*time.Second, "3 received messages counted", func() bool { return srv.Perf().Total().Get(perf.RecvMessages) >= 3 })
	st := srv.Perf().Total()
	if n := st.Get(perf.RecvMessages); n != 3 {
		t.Fatalf("server msgr_recv_messages = %d, want 3", n)
	}
	if n := st.Get(perf.RecvBytes); n != 300 {
		t.Fatalf("server msgr_recv_bytes = %d, want 300", n)
	}
	if n := st.Gauge(perf.ActiveConnections); n != 1 {
		t.Fatalf("server msgr_active_connections = %d, want 1", n)
	}
	// msgr_running_total_time: the loops worked, for less than the test ran.
	if busy := st.Time(perf.RunningTotalTime); busy <= 0 || busy > 2*time.Since(start) {
		t.Fatalf("server msgr_running_total_time = %v after %v", busy, time.Since(start))
	}
	waitFor(t, 5*time.Second, "3 sent messages counted", func() bool { return cli.Perf().Total().Get(perf.SendMessages) >= 3 })
	cst := cli.Perf().Total()
	if n := cst.Get(perf.SendMessages); n != 3 {
		t.Fatalf("client msgr_send_messages = %d, want 3", n)
	}
	if a := cst.Avg(perf.SendMessagesQueueLat); a.Count != 3 {
		t.Fatalf("client msgr_send_messages_queue_lat count = %d, want 3", a.Count)
	}
	var buf bytes.Buffer
	if err := srv.Perf().WriteJSON(&buf); err != nil || !bytes.Contains(buf.Bytes(), []byte(`"msgr_recv_messages"`)) {
		t.Fatalf("perf dump: %v\n%s", err, buf.String())
	}
	d := srv.Dump()
	if len(d.Listeners) != 1 || d.Listeners[0].Accepted != 1 || len(d.Workers) != 2 {
		t.Fatalf("dump listeners %+v workers %+v", d.Listeners, d.Workers)
	}
	if len(d.Connections) != 1 || d.Connections[0].State != "ready" || d.Connections[0].PeerName != "client.9" || d.Connections[0].Role != "server" {
		t.Fatalf("dump connections %+v", d.Connections)
	}
	// The sessions' numbers, as their workers last published them.
	sc := d.Connections[0]
	waitFor(t, 5*time.Second, "the client's out_seq published", func() bool { return cli.Dump().Connections[0].OutSeq == 3 })
	cc := cli.Dump().Connections[0]
	if sc.InSeq != 3 || cc.OutSeq != 3 {
		t.Fatalf("dump: server in_seq %d, client out_seq %d; want 3 and 3", sc.InSeq, cc.OutSeq)
	}
	if sc.ClientCookie == 0 || sc.ClientCookie != cc.ClientCookie {
		t.Fatalf("dump: client cookie %#x on the server, %#x on the client; want the same, not 0", sc.ClientCookie, cc.ClientCookie)
	}
	buf.Reset()
	if err := cli.WriteDumpJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back gomsgr.Dump
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Connections) != 1 || back.Connections[0].PeerName != "osd.2" {
		t.Fatalf("client dump %v: %s", err, buf.String())
	}
}

// TestCounterSampling checks that queue latencies are timed for one message
// in SampleEvery (rounded up to a power of two, the first one included)
// while the message counts stay exact.
func TestCounterSampling(t *testing.T) {
	leakcheck.Check(t)
	got := make(chan *gomsgr.Message, 64)
	srv := msgrtest.Serve(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}, Workers: 1}),
		gomsgr.Policy{}, gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct{ every, want int }{{0, 1}, {5, 5}, {16, 3}, {1, 40}} {
		cli := msgrtest.Start(t, newMsgr(t, conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(tc.every)}, Workers: 1, SampleEvery: tc.every}),
			gomsgr.Policy{})
		c, _ := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
		for i := 0; i < 40; i++ {
			must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Data: make([]byte, 10)}))
		}
		for i := 0; i < 40; i++ {
			select {
			case m := <-got:
				m.Release()
			case <-ctx.Done():
				t.Fatal("messages did not arrive")
			}
		}
		waitFor(t, 5*time.Second, "40 sent messages counted", func() bool { return cli.Perf().Total().Get(perf.SendMessages) >= 40 })
		st := cli.Perf().Total()
		if n := st.Get(perf.SendMessages); n != 40 {
			t.Errorf("SampleEvery %d: msgr_send_messages = %d, want 40", tc.every, n)
		}
		if a := st.Avg(perf.SendMessagesQueueLat); a.Count != uint64(tc.want) {
			t.Errorf("SampleEvery %d: queue_lat count = %d, want %d", tc.every, a.Count, tc.want)
		}
		if err := cli.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
