package framing

import (
	"testing"

	"github.com/gomsgr/gomsgr/msgr2"
)

// FuzzReader feeds arbitrary bytes, in arbitrary chunks, through a Reader
// to an engine that consumes whole MESSAGE frames: it never panics, never
// holds a buffer larger than a frame the preamble announced (bounded by
// the segment limit), and an error ends the input.
func FuzzReader(f *testing.F) {
	f.Add(append(frame(1, 10), frame(2, 9000)...), uint8(7), true)
	f.Add(frame(3, 0), uint8(1), false)
	f.Add([]byte("ceph v2\n\x10\x00"), uint8(3), true)
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, small bool) {
		r := NewReader(ReaderConfig{PrefetchBytes: 4096, MaxSegmentBytes: 64 << 10, SmallIdle: small, Prefix: "fuzz"})
		defer r.Reset()
		e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true}
		step := int(chunk)%64 + 1
		for len(in) > 0 {
			b := r.Space()
			if len(b) > 4*(64<<10)+4096 {
				t.Fatalf("read buffer of %d bytes, beyond 4 segments of the limit", len(b))
			}
			n := copy(b, in[:min(step, len(in))])
			in = in[n:]
			r.Filled(n)
			if err := r.Process(e); err != nil {
				return
			}
			if n < len(b) {
				r.Idle()
			}
		}
	})
}
