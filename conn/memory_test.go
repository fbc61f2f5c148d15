package conn_test

import (
	"context"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/conn"
)

// BenchmarkIdleConnections measures the Go heap an idle session costs:
// b.N sessions (both ends in this process) each exchange one 64-byte
// message and then sit idle; heap-B/conn is the live heap they added,
// divided by the 2·b.N connections. The target (docs/ARCHITECTURE.md, "Tests and targets") is under 4 KiB per
// idle connection.
//
//	go test ./conn -run '^$' -bench IdleConnections -benchtime 2000x
func BenchmarkIdleConnections(b *testing.B) {
	srv, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityOSD, Num: 1}, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	must(b, srv.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	must(b, srv.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) {
		// The echo may meet a connection that closes as the benchmark ends.
		_ = m.Conn.SendMessage(&gomsgr.Message{Type: m.Type, Tid: m.Tid, Data: m.Data})
	})))
	if err := srv.Bind(context.Background(), netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		b.Fatal(err)
	}
	must(b, srv.Start())
	var got atomic.Int64
	cli, err := conn.NewMessenger(conn.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 1}, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	must(b, cli.SetDefaultPolicy(gomsgr.LossyClient(0)))
	must(b, cli.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got.Add(1); m.Release() })))
	must(b, cli.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer shutdown(ctx, b, srv)
	defer shutdown(ctx, b, cli)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	cs := make([]*conn.Connection, 0, b.N)
	for i := 0; i < b.N; i++ {
		c, err := cli.ConnectAnon(gomsgr.EntityOSD, srv.Addrs()[0])
		if err != nil {
			b.Fatal(err)
		}
		must(b, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Data: make([]byte, 64)}))
		cs = append(cs, c)
	}
	for got.Load() < int64(b.N) {
		if ctx.Err() != nil {
			b.Fatalf("%d of %d echoes", got.Load(), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	time.Sleep(100 * time.Millisecond) // acks settle
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(2*b.N), "heap-B/conn")
	runtime.KeepAlive(cs)
}
