//go:build !linux

package drivertest

import "testing"

// skipReason is why the suite does not run off Linux: its cases are built
// from Linux system calls, and every driver is Linux-only.
const skipReason = "drivertest: the suite needs Linux (pipe2, eventfd, accept4, /proc/self/fd); no driver runs elsewhere"

// Run skips: see skipReason.
func Run(t *testing.T, open Factory) { t.Skip(skipReason) }

// BenchWake skips: see skipReason.
func BenchWake(b *testing.B, open Factory) { b.Skip(skipReason) }

// BenchPipePingPong skips: see skipReason.
func BenchPipePingPong(b *testing.B, open Factory) { b.Skip(skipReason) }

// BenchWakeParked skips: see skipReason.
func BenchWakeParked(b *testing.B, open Factory) { b.Skip(skipReason) }
