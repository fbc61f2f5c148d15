package cephx

import (
	"runtime"
	"testing"
)

// allocatedBytes returns how many bytes f allocates on the heap.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileLengthsDoNotAllocate feeds decoders inputs whose counts and
// lengths claim gigabytes; what they allocate stays far below that
// (a few KiB of error text), because every length is checked against the
// input before use.
func TestHostileLengthsDoNotAllocate(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0x7f}
	tests := []struct {
		name string
		f    func()
	}{
		{"ticket count", func() { _, _ = DecodeServiceTicketReply(append([]byte{1}, huge...), testKey, nil) }},
		{"envelope length", func() { _, _, _ = DecodeDecrypt(testKey, append(huge, make([]byte, 32)...)) }},
		{"ticket blob length", func() { _, _ = DecodeTicketBlob(append(make([]byte, 9), huge...)) }},
		{"auth done", func() {
			b := ResponseHeader{RequestType: GetAuthSessionKey}.Append(nil)
			_, _ = ParseAuthDone(append(append(b, 1), huge...), testKey)
		}},
	}
	const limit = 64 << 10
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := allocatedBytes(tt.f); n > limit {
				t.Fatalf("allocated %d bytes, want at most %d", n, limit)
			}
		})
	}
}
