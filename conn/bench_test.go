package conn_test

import (
	"fmt"
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/msgr2"
)

// BenchmarkPingPong: one connection, 64-byte data segment, fast-dispatch
// echo, per driver.
//
//	go test ./conn -run '^$' -bench PingPong -benchtime 20000x -count 5
func BenchmarkPingPong(b *testing.B) {
	for _, d := range []string{"epoll", "uring"} {
		b.Run(d, func(b *testing.B) { msgrtest.BenchPingPong(b, factory(d), 64) })
	}
}

// BenchmarkPipelined: 16 connections × 32 in flight, 64 B / 4 KiB / 64 KiB.
//
//	go test ./conn -run '^$' -bench Pipelined -benchtime 200000x
func BenchmarkPipelined(b *testing.B) {
	for _, d := range []string{"epoll", "uring"} {
		for _, size := range []int{64, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", d, size), func(b *testing.B) {
				msgrtest.BenchPipelined(b, factory(d), 16, 32, size)
			})
		}
	}
}

// BenchmarkPrefetch compares read buffer sizes (ms_tcp_prefetch_max_size)
// on the pipelined workload, to pick the default from numbers.
//
//	go test ./conn -run '^$' -bench Prefetch -benchtime 100000x -count 3
func BenchmarkPrefetch(b *testing.B) {
	for _, pf := range []int{4 << 10, 16 << 10, 64 << 10} {
		for _, size := range []int{64, 4 << 10} {
			b.Run(fmt.Sprintf("prefetch%dK/%dB", pf>>10, size), func(b *testing.B) {
				f := func(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
					m, err := conn.NewMessenger(conn.Options{Name: cfg.Name, Workers: 2, PrefetchBytes: pf})
					if err != nil {
						b.Fatal(err)
					}
					return m
				}
				msgrtest.BenchPipelined(b, f, 16, 32, size)
			})
		}
	}
}

// BenchmarkCounting: the same workloads with perf counters on (default
// sampling), exact (every message timed) and off, to show what counting
// costs: one connection's ping-pong (the issue's
// measure) and 16 connections × 32 in flight. cpu-ns/op, the process's CPU
// time per message, is the steadier figure on a shared machine. Run the
// halves interleaved and compare with benchstat (see README, Performance).
//
//	go test ./conn -run '^$' -bench Counting -benchtime 20000x -count 5
func BenchmarkCounting(b *testing.B) {
	for _, work := range []string{"pingpong", "pipelined"} {
		// on: the default sampling; exact: every message timed, as Ceph
		// does (SampleEvery 1); off: NoCounters.
		for _, mode := range []string{"on", "exact", "off"} {
			off, every := mode == "off", 0
			if mode == "exact" {
				every = 1
			}
			b.Run(work+"/"+mode, func(b *testing.B) {
				f := func(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
					m, err := conn.NewMessenger(conn.Options{Name: cfg.Name, Workers: 2, NoCounters: off, SampleEvery: every})
					if err != nil {
						t.Fatal(err)
					}
					return m
				}
				if work == "pingpong" {
					msgrtest.BenchPingPong(b, f, 64)
				} else {
					msgrtest.BenchPipelined(b, f, 16, 32, 64)
				}
			})
		}
	}
}

// BenchmarkHandshake: connect to first reply with auth none and with
// cephx (a keyring on the server, a key on the client), epoll.
//
//	go test ./conn -run '^$' -bench Handshake -benchtime 2000x -count 3
func BenchmarkHandshake(b *testing.B) {
	k := msgrtest.NewKey(b)
	b.Run("none", func(b *testing.B) { msgrtest.BenchHandshake(b, factory("epoll"), nil, nil) })
	b.Run("cephx", func(b *testing.B) {
		msgrtest.BenchHandshake(b, factory("epoll"),
			&auth.Config{Keyring: cephx.Keyring{"client.admin": {Key: k}}},
			&auth.Config{Name: "client.admin", Key: &k})
	})
}

// BenchmarkSecurity: the ping-pong and pipelined workloads with cephx in
// crc mode and in secure mode (AES-128-GCM), epoll: what encryption costs
// per message. Allocations per message are reported.
//
//	go test ./conn -run '^$' -bench Security -benchtime 20000x -count 3
func BenchmarkSecurity(b *testing.B) {
	for _, mode := range []msgr2.ConMode{auth.CRC, auth.Secure} {
		f := func(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
			cfg.Auth = msgrtest.CephxAuth(t, mode)
			return factory("epoll")(t, cfg)
		}
		b.Run(mode.String()+"/pingpong", func(b *testing.B) { msgrtest.BenchPingPong(b, f, 64) })
		for _, size := range []int{64, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%v/pipelined/%dB", mode, size), func(b *testing.B) {
				msgrtest.BenchPipelined(b, f, 16, 32, size)
			})
		}
	}
}
