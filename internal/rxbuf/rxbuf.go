// Package rxbuf pools the buffers received payloads live in, shared by both
// messengers.
//
// Buffers come from power-of-two size classes, one sync.Pool each, from
// 256 B to 16 MiB; larger ones are left to the collector. Unlike
// bytebufferpool, whose calibration drops buffers above the 95th percentile
// of recent sizes (so a mix of prefetch buffers and 4 KiB messages allocated
// once per message in BenchmarkPipelined), a class pool keeps every size it
// serves, so steady-state receiving allocates nothing.
package rxbuf

import (
	"math/bits"
	"sync"

	"github.com/gomsgr/gomsgr"
)

const (
	minShift = 8
	maxShift = 24
)

// Buf is a pooled receive buffer. A message that keeps one gets it as its
// releaser's argument (a pointer: no allocation).
type Buf struct {
	// B is the buffer, of the length asked for.
	B     []byte
	class int8 // index into pools, or -1 when not pooled
}

var pools [maxShift - minShift + 1]sync.Pool

// Get returns a buffer of length n.
func Get(n int) *Buf {
	k := minShift
	if n > 1<<minShift {
		k = bits.Len(uint(n - 1))
	}
	if k > maxShift {
		return &Buf{B: make([]byte, n), class: -1}
	}
	if v := pools[k-minShift].Get(); v != nil {
		b := v.(*Buf)
		b.B = b.B[:n]
		return b
	}
	return &Buf{B: make([]byte, n, 1<<k), class: int8(k - minShift)}
}

// Put returns b to its pool; b must not be used after.
func (b *Buf) Put() {
	if b.class >= 0 {
		pools[b.class].Put(b)
	}
}

// Release is the releaser of a received message that keeps a pooled buffer
// (arg, a *Buf): it returns the buffer and the message to their pools.
func Release(m *gomsgr.Message, arg any) {
	arg.(*Buf).Put()
	gomsgr.PutMessage(m)
}
