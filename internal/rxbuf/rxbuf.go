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
	"github.com/gomsgr/gomsgr/msgr2"
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

// Message returns a pooled message for header h whose payload is front,
// middle and data, which alias the connection's read buffer. When own is
// not nil it is a buffer of the frame's own that the segments already live
// in, and the message takes it over; otherwise the segments are copied into
// one buffer of the smallest class that holds them. Empty segments are nil.
// The caller sets Src, Conn and RecvStamp.
func Message(h *msgr2.MsgHeader2, front, middle, data []byte, own *Buf) *gomsgr.Message {
	m := gomsgr.GetMessage()
	m.Type, m.Priority, m.Version, m.CompatVersion = h.Type, h.Priority, h.Version, h.CompatVersion
	m.Tid, m.Seq = h.Tid, h.Seq
	total := len(front) + len(middle) + len(data)
	m.DispatchBytes = total
	if own != nil {
		m.Front, m.Middle, m.Data = front, middle, data
		m.SetReleaser(Release, own)
		return m
	}
	bb := Get(total)
	b := bb.B
	copy(b, front)
	copy(b[len(front):], middle)
	copy(b[len(front)+len(middle):], data)
	f, mi := len(front), len(front)+len(middle)
	if len(front) > 0 {
		m.Front = b[:f:f]
	}
	if len(middle) > 0 {
		m.Middle = b[f:mi:mi]
	}
	if len(data) > 0 {
		m.Data = b[mi:total:total]
	}
	m.SetReleaser(Release, bb)
	return m
}
