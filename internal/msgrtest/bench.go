package msgrtest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
)

// echoServer is a fast dispatcher that answers every message with one of the
// same size, recycling both.
type echoServer struct{ payload []byte }

func (e *echoServer) Dispatch(m *gomsgr.Message) bool      { e.FastDispatch(m); return true }
func (e *echoServer) CanFastDispatch(*gomsgr.Message) bool { return true }
func (e *echoServer) FastDispatch(m *gomsgr.Message) {
	r := gomsgr.GetMessage()
	r.Type, r.Tid, r.Priority = m.Type, m.Tid, m.Priority
	r.Data = e.payload[:len(m.Data)]
	r.SetReleaser(gomsgr.ReleaseToPool, nil)
	c := m.Conn
	m.Release()
	// It fails only on a connection marked down or a messenger shutting
	// down: the benchmark then times out waiting for the reply and says so.
	_ = c.SendMessage(r)
}

// replies is a fast dispatcher that hands each reply's tid to a callback.
type replies struct{ fn func(tid uint64) }

func (r *replies) Dispatch(m *gomsgr.Message) bool      { r.FastDispatch(m); return true }
func (r *replies) CanFastDispatch(*gomsgr.Message) bool { return true }
func (r *replies) FastDispatch(m *gomsgr.Message) {
	tid := m.Tid
	m.Release()
	r.fn(tid)
}

func benchServer(b *testing.B, newMsgr Factory) gomsgr.Messenger {
	srv := newMsgr(b, Config{Name: osd0})
	configure(b, srv, gomsgr.StatelessServer(0), &echoServer{payload: make([]byte, 1<<20)})
	if err := srv.Bind(context.Background(), local); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	return srv
}

func stop(b *testing.B, ms ...gomsgr.Messenger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	}
}

// BenchPingPong measures one connection's round trip with size-byte data
// segments: b.N messages, each sent when the previous echo came back. It
// reports p50 and p99 in ns next to ns/op, and allocations per round trip
// (both messengers, both directions).
func BenchPingPong(b *testing.B, newMsgr Factory, size int) {
	srv := benchServer(b, newMsgr)
	cli := newMsgr(b, Config{Name: client1})
	done := make(chan struct{}, 1)
	configure(b, cli, gomsgr.LossyClient(0), &replies{fn: func(uint64) { done <- struct{}{} }})
	if err := cli.Start(); err != nil {
		b.Fatal(err)
	}
	defer stop(b, cli, srv)
	c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	send := func(i int) {
		m := gomsgr.GetMessage()
		m.Type, m.Tid, m.Data = MsgTest, uint64(i), data
		m.SetReleaser(gomsgr.ReleaseToPool, nil)
		if err := c.SendMessage(m); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ { // warm up: handshake, pools
		send(i)
		<-done
	}
	rtts := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		send(i)
		<-done
		rtts[i] = time.Since(start)
	}
	b.StopTimer()
	reportCPU(b, cpu)
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2]), "p50-ns")
	b.ReportMetric(float64(rtts[len(rtts)*99/100]), "p99-ns")
}

// BenchPipelined measures throughput: conns client connections (each its own
// client messenger sharing nothing), each keeping inflight messages of size
// bytes outstanding, b.N messages in total. It reports messages/s and MB/s
// (one direction's payload).
func BenchPipelined(b *testing.B, newMsgr Factory, conns, inflight, size int) {
	srv := benchServer(b, newMsgr)
	var toSend, toRecv atomic.Int64
	toSend.Store(int64(b.N))
	toRecv.Store(int64(b.N))
	finished := make(chan struct{})
	clients := make([]gomsgr.Messenger, conns)
	cs := make([]gomsgr.Connection, conns)
	data := make([]byte, size)
	failed := make(chan error, 1) // the first send error
	send := func(c gomsgr.Connection) {
		if toSend.Add(-1) < 0 {
			return
		}
		m := gomsgr.GetMessage()
		m.Type, m.Data = MsgTest, data
		m.SetReleaser(gomsgr.ReleaseToPool, nil)
		if err := c.SendMessage(m); err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	}
	for i := range clients {
		cli := newMsgr(b, Config{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: int64(6000 + i)}})
		var conn gomsgr.Connection
		configure(b, cli, gomsgr.LossyClient(0), &replies{fn: func(uint64) {
			send(conn)
			if toRecv.Add(-1) == 0 {
				close(finished)
			}
		}})
		if err := cli.Start(); err != nil {
			b.Fatal(err)
		}
		c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
		if err != nil {
			b.Fatal(err)
		}
		conn, clients[i], cs[i] = c, cli, c
	}
	defer stop(b, append(clients, srv)...)
	// Wait for every handshake before timing.
	for _, c := range cs {
		deadline := time.Now().Add(10 * time.Second)
		for !c.IsConnected() && time.Now().Before(deadline) {
			if err := c.SendKeepalive(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for k := 0; k < inflight; k++ {
		for _, c := range cs {
			send(c)
		}
	}
	select {
	case <-finished:
	case err := <-failed:
		b.Fatalf("pipelined run: send: %v", err)
	case <-time.After(2 * time.Minute):
		b.Fatalf("pipelined run did not finish in 2 minutes: %d of %d replies missing", toRecv.Load(), b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	reportCPU(b, cpu)
}

// reportCPU reports the CPU time per op since start, a cpuTime reading,
// when the system tells it (cpuTime returns -1 when it does not).
func reportCPU(b *testing.B, start int64) {
	if now := cpuTime(); start >= 0 && now >= 0 {
		b.ReportMetric(float64(now-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchHandshake measures a new session's cost, connect to first reply:
// each op dials the server (lossy client), waits for the handshake (with
// srvAuth and cliAuth: auth none when nil, cephx when given keys), sends
// one message, waits for its echo and marks the connection down. It
// reports p50 and p99 next to ns/op.
func BenchHandshake(b *testing.B, newMsgr Factory, srvAuth, cliAuth *auth.Config) {
	srv := newMsgr(b, Config{Name: osd0, Auth: srvAuth})
	configure(b, srv, gomsgr.StatelessServer(0), &echoServer{payload: make([]byte, 64)})
	if err := srv.Bind(context.Background(), local); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	cli := newMsgr(b, Config{Name: client1, Auth: cliAuth})
	done := make(chan struct{}, 1)
	configure(b, cli, gomsgr.LossyClient(0), &replies{fn: func(uint64) { done <- struct{}{} }})
	if err := cli.Start(); err != nil {
		b.Fatal(err)
	}
	defer stop(b, cli, srv)
	ctx := context.Background()
	one := func(i int) {
		c, err := cli.ConnectTo(gomsgr.EntityOSD, srv.Addrs()[0])
		if err != nil {
			b.Fatal(err)
		}
		if err := c.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.SendMessage(&gomsgr.Message{Type: MsgTest, Tid: uint64(i)}); err != nil {
			b.Fatal(err)
		}
		<-done
		c.MarkDown()
	}
	for i := range 20 {
		one(i)
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		one(i)
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}
