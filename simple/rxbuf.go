package simple

import (
	"math/bits"
	"sync"

	"github.com/gomsgr/gomsgr"
)

// Receive buffers come from power-of-two size classes, one sync.Pool each,
// from 256 B to 16 MiB; larger ones are left to the collector. Unlike
// bytebufferpool, whose calibration drops buffers above the 95th percentile
// of recent sizes (so a mix of 64 KiB prefetch buffers and 4 KiB messages
// allocated once per message in BenchmarkPipelined), a class pool keeps
// every size it serves, so steady-state receiving allocates nothing.
const (
	rxMinShift = 8
	rxMaxShift = 24
)

// rxBuf is a pooled receive buffer. A message that keeps one gets it as its
// releaser's argument (a pointer: no allocation).
type rxBuf struct {
	b     []byte
	class int8 // index into rxPools, or -1 when not pooled
}

var rxPools [rxMaxShift - rxMinShift + 1]sync.Pool

// getRx returns a buffer of length n.
func getRx(n int) *rxBuf {
	k := rxMinShift
	if n > 1<<rxMinShift {
		k = bits.Len(uint(n - 1))
	}
	if k > rxMaxShift {
		return &rxBuf{b: make([]byte, n), class: -1}
	}
	if v := rxPools[k-rxMinShift].Get(); v != nil {
		rb := v.(*rxBuf)
		rb.b = rb.b[:n]
		return rb
	}
	return &rxBuf{b: make([]byte, n, 1<<k), class: int8(k - rxMinShift)}
}

// put returns rb to its pool; rb must not be used after.
func (rb *rxBuf) put() {
	if rb.class >= 0 {
		rxPools[rb.class].Put(rb)
	}
}

// releaseRx is the releaser of a received message that keeps a pooled
// buffer (arg, an *rxBuf): it returns the buffer and the message.
func releaseRx(m *gomsgr.Message, arg any) {
	arg.(*rxBuf).put()
	gomsgr.PutMessage(m)
}
