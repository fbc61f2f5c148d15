package framing

import (
	"bytes"
	"slices"
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

// FuzzReaderLent feeds arbitrary bytes as completion mode does: each
// chunk lent to ProcessLent while nothing is buffered, a split frame's
// missing bytes copied in. The same rules hold, and
// whatever the split, the frames consumed are those of one whole-input
// Process, in order.
func FuzzReaderLent(f *testing.F) {
	f.Add(append(frame(1, 10), frame(2, 9000)...), uint16(700))
	f.Add(append(frame(3, 0), frame(4, 70000)...), uint16(65535))
	f.Add([]byte("ceph v2\n\x10\x00"), uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		want := func() []uint64 {
			r := NewReader(ReaderConfig{PrefetchBytes: 4096, MaxSegmentBytes: 64 << 10, Prefix: "fuzz"})
			defer r.Reset()
			e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true}
			rest := in
			for len(rest) > 0 {
				n := copy(r.Space(), rest)
				rest = rest[n:]
				r.Filled(n)
				if r.Process(e) != nil {
					break
				}
			}
			return e.frames
		}()
		r := NewReader(ReaderConfig{PrefetchBytes: 4096, MaxSegmentBytes: 64 << 10, Prefix: "fuzz"})
		defer r.Reset()
		e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true}
		step := int(chunk)%(128<<10) + 1
		rest := in
	feed:
		for len(rest) > 0 {
			b := bytes.Clone(rest[:min(step, len(rest))])
			rest = rest[len(b):]
			n := 0
			for n < len(b) {
				if r.Buffered() == 0 {
					k, err := r.ProcessLent(e, b[n:])
					if err != nil {
						break feed
					}
					if n += k; n == len(b) {
						break
					}
				}
				s := r.Space()
				if len(s) > 4*(64<<10)+4096 {
					t.Fatalf("read buffer of %d bytes, beyond 4 segments of the limit", len(s))
				}
				if m := r.Missing(); m > 0 && m < len(s) {
					s = s[:m]
				}
				k := copy(s, b[n:])
				r.Filled(k)
				n += k
				if r.Process(e) != nil {
					break feed
				}
			}
			r.Idle()
		}
		if !slices.Equal(e.frames, want) {
			t.Fatalf("frames %v, want %v (one whole-input Process)", e.frames, want)
		}
	})
}
