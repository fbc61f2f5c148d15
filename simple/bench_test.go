package simple_test

import (
	"fmt"
	"testing"

	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

// BenchmarkPingPong: one connection, 64-byte data segment, fast-dispatch
// echo; the same measurement as conn's BenchmarkPingPong.
//
//	go test ./simple -run '^$' -bench PingPong -benchtime 20000x -count 5
func BenchmarkPingPong(b *testing.B) { msgrtest.BenchPingPong(b, factory, 64) }

// BenchmarkPipelined: 16 connections × 32 in flight, 64 B / 4 KiB / 64 KiB;
// the same measurement as conn's BenchmarkPipelined.
//
//	go test ./simple -run '^$' -bench Pipelined -benchtime 200000x
func BenchmarkPipelined(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			msgrtest.BenchPipelined(b, factory, 16, 32, size)
		})
	}
}
