package conn_test

import (
	"fmt"
	"testing"

	"github.com/gomsgr/gomsgr/internal/msgrtest"
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
