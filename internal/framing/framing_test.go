package framing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/msgr2"
	"github.com/gomsgr/gomsgr/perf"
)

// frame returns a MESSAGE frame (msgr2.1) with tid and a data segment of
// n bytes.
func frame(tid uint64, n int) []byte {
	var f msgr2.MessageFrame
	h := msgr2.MsgHeader2{Tid: tid, Type: 0x7001, Priority: 127}
	f.Encode(msgr2.Rev1, &h, nil, nil, bytes.Repeat([]byte{byte(tid)}, n))
	return f.AppendTo(nil)
}

// fakeEngine consumes whole MESSAGE frames, as the session engine does
// once open, and records what it got.
type fakeEngine struct {
	r       *Reader
	open    bool
	refuse  bool // Budget refuses
	thr     msgrbase.Throttles
	frames  []uint64 // tids
	sizes   []int
	owned   int // frames delivered in a buffer of their own
	budgets int
	fr      msgr2.FrameReader
}

func (e *fakeEngine) Feed(b []byte) (n, need int, err error) {
	for len(b) > 0 {
		f, size, err := e.fr.Decode(b)
		if err == msgr2.ErrShort {
			return n, size, nil
		}
		if err != nil {
			return n, 0, err
		}
		h, _, _, _, err := msgr2.DecodeMessage(&f)
		if err != nil {
			return n, 0, err
		}
		e.frames = append(e.frames, h.Tid)
		e.sizes = append(e.sizes, size)
		if e.r.TakeBig() != nil {
			e.owned++
		}
		held := e.r.Held.Move()
		held.Release()
		b, n = b[size:], n+size
	}
	return n, 0, nil
}

func (e *fakeEngine) Open() bool                                 { return e.open }
func (e *fakeEngine) Peek(b []byte) (msgr2.Preamble, int, error) { return e.fr.Peek(b) }
func (e *fakeEngine) Budget(size int64, h *msgrbase.Held) bool {
	if e.refuse {
		return false
	}
	e.budgets++
	return h.TryTake(e.thr, nil, size)
}

// feed writes in into r in chunks of at most chunk bytes, processing after
// each read, as a connection does.
func feed(t *testing.T, r *Reader, e *fakeEngine, in []byte, chunk int) {
	t.Helper()
	for len(in) > 0 {
		b := r.Space()
		n := copy(b, in[:min(chunk, len(in))])
		in = in[n:]
		r.Filled(n)
		if err := r.Process(e); err != nil {
			t.Fatalf("Process: %v", err)
		}
		if n < len(b) {
			r.Idle()
		}
	}
}

func TestReaderFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		small bool
		chunk int
		sizes []int
	}{
		{"small frames, one read", false, 1 << 20, []int{10, 20, 30, 40}},
		{"small frames, byte by byte", false, 1, []int{10, 0, 300}},
		{"big frames in own buffers", false, 4096, []int{100, 200 << 10, 50, 300 << 10}},
		{"small idle buffer", true, 7, []int{1, 2, 600, 3}},
		{"small idle, big frame", true, 1 << 16, []int{5, 100 << 10, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10, SmallIdle: tc.small})
			e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true}
			var in []byte
			for i, n := range tc.sizes {
				in = append(in, frame(uint64(i+1), n)...)
			}
			feed(t, r, e, in, tc.chunk)
			if len(e.frames) != len(tc.sizes) {
				t.Fatalf("got %d frames %v, want %d", len(e.frames), e.frames, len(tc.sizes))
			}
			big := 0
			for i, tid := range e.frames {
				if tid != uint64(i+1) {
					t.Fatalf("frame %d has tid %d: order lost (%v)", i, tid, e.frames)
				}
				if e.sizes[i] > 64<<10 {
					big++
				}
			}
			if e.owned != big {
				t.Errorf("%d frames came in a buffer of their own, want the %d larger than the prefetch buffer", e.owned, big)
			}
			if e.budgets != len(tc.sizes) {
				t.Errorf("budget taken %d times, want once per MESSAGE frame (%d)", e.budgets, len(tc.sizes))
			}
			r.Idle()
			if !tc.small && (r.pb != nil || r.buf != nil) {
				t.Error("an idle Reader without SmallIdle still holds a buffer")
			}
			r.Reset()
		})
	}
}

// TestReaderBlocked: a refused budget stops processing before the frame
// is fed, and processing resumes where it stopped.
func TestReaderBlocked(t *testing.T) {
	r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true, refuse: true}
	in := append(frame(1, 10), frame(2, 10)...)
	b := r.Space()
	r.Filled(copy(b, in))
	if err := r.Process(e); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Process with the budget refused: %v, want ErrBlocked", err)
	}
	if len(e.frames) != 0 || r.Buffered() != len(in) {
		t.Fatalf("blocked Process fed %d frames and left %d of %d bytes", len(e.frames), r.Buffered(), len(in))
	}
	e.refuse = false
	if err := r.Process(e); err != nil {
		t.Fatal(err)
	}
	if len(e.frames) != 2 {
		t.Fatalf("after the budget came back: %d frames, want 2", len(e.frames))
	}
}

// TestReaderHeldReleased: a frame's budget goes back when the message is
// dispatched, or when the Reader is reset before.
func TestReaderHeldReleased(t *testing.T) {
	th := msgrbase.NewThrottle(perf.NewSet("t"), "m", 10)
	r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true, thr: msgrbase.Throttles{Msgs: th}}
	in := frame(1, 10)
	b := r.Space()
	r.Filled(copy(b, in[:40])) // the preamble, not the whole frame
	if err := r.Process(e); err != nil {
		t.Fatal(err)
	}
	if th.Current() != 1 {
		t.Fatalf("throttle holds %d after the preamble, want 1", th.Current())
	}
	r.Reset()
	if th.Current() != 0 {
		t.Fatalf("throttle holds %d after Reset, want 0", th.Current())
	}
}

// TestReaderHandshakeLimit: before the session is open a frame larger
// than the prefetch buffer is a protocol error, not a buffer.
func TestReaderHandshakeLimit(t *testing.T) {
	r := NewReader(ReaderConfig{PrefetchBytes: 4096, Prefix: "t"})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r}
	in := frame(1, 8000)
	b := r.Space()
	r.Filled(copy(b, in))
	if err := r.Process(e); err == nil {
		t.Fatal("an 8 KB frame before the session is open was accepted")
	}
}

func TestWriterAdvance(t *testing.T) {
	var w Writer
	released := 0
	msg := func(tid uint64) *gomsgr.Message {
		m := &gomsgr.Message{Type: 0x7001, Tid: tid, Data: []byte("payload")}
		m.SetReleaser(func(*gomsgr.Message, any) { released++ }, nil)
		return m
	}
	w.Control([]byte("ctrl"))
	var h1, h2 msgr2.MsgHeader2
	m1, m2 := msg(1), msg(2)
	h1.Seq, h2.Seq = 1, 2
	m1.Seq, m2.Seq = 1, 2
	must(t, w.Message(m1, &h1, msgr2.Rev1))
	must(t, w.Message(m2, &h2, msgr2.Rev1))
	var all []byte
	for _, b := range w.Buffers(nil) {
		all = append(all, b...)
	}
	want := append([]byte("ctrl"), frame(0, 0)[:0]...)
	if !bytes.HasPrefix(all, want) {
		t.Fatalf("output does not start with the control bytes")
	}
	// Write it in two pieces, the first ending inside m2's frame.
	cut := len(all) - 3
	if done := w.Advance(cut, true); done != 1 || w.Sent.Len() != 1 {
		t.Fatalf("after %d of %d bytes: %d messages done, %d sent; want 1, 1", cut, len(all), done, w.Sent.Len())
	}
	if got := w.Buffers(nil); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("left %d buffers, want the last 3 bytes", len(got))
	}
	if done := w.Advance(3, true); done != 1 || w.Pending() || w.Sent.Len() != 2 {
		t.Fatalf("after all: %d done, pending %v, %d sent", done, w.Pending(), w.Sent.Len())
	}
	if released != 0 {
		t.Fatal("a kept message was released before its ack")
	}
	if n := w.Sent.Ack(1); n != 1 || released != 1 || w.Sent.Len() != 1 {
		t.Fatalf("Ack(1): %d acked, %d released, %d left", n, released, w.Sent.Len())
	}
	rest := w.Sent.Take()
	if len(rest) != 1 || rest[0] != m2 || w.Sent.Len() != 0 {
		t.Fatalf("Take: %d messages", len(rest))
	}
	// Lossy: released once written; Drop hands back what was not.
	m3, m4 := msg(3), msg(4)
	must(t, w.Message(m3, &h1, msgr2.Rev1))
	n3 := 0
	for _, b := range w.Buffers(nil) {
		n3 += len(b)
	}
	must(t, w.Message(m4, &h2, msgr2.Rev1))
	w.Advance(n3, false)
	if released != 2 {
		t.Fatalf("a written lossy message was not released (%d)", released)
	}
	if got := w.Drop(); len(got) != 1 || got[0] != m4 || w.Pending() {
		t.Fatalf("Drop: %v, pending %v", got, w.Pending())
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true, frames: make([]uint64, 0, 4096), sizes: make([]int, 0, 4096)}
	in := append(frame(1, 100), frame(2, 4000)...)
	if a := testing.AllocsPerRun(1000, func() {
		e.frames, e.sizes = e.frames[:0], e.sizes[:0]
		b := r.Space()
		r.Filled(copy(b, in))
		if err := r.Process(e); err != nil {
			t.Fatal(err)
		}
		r.Idle()
	}); a != 0 {
		t.Errorf("Reader: %.1f allocs per read of two frames, want 0", a)
	}
	var w Writer
	m := &gomsgr.Message{Type: 0x7001, Data: make([]byte, 100)}
	var h msgr2.MsgHeader2
	var bufs [][]byte
	w.Control([]byte("warm"))
	must(t, w.Message(m, &h, msgr2.Rev1))
	bufs = w.Buffers(bufs[:0])
	w.Advance(1<<30, true)
	w.Sent.Ack(1 << 62)
	if a := testing.AllocsPerRun(1000, func() {
		w.Control([]byte("ack"))
		must(t, w.Message(m, &h, msgr2.Rev1))
		bufs = w.Buffers(bufs[:0])
		w.Advance(1<<30, true)
		w.Sent.Ack(1 << 62)
	}); a != 0 {
		t.Errorf("Writer: %.1f allocs per message, want 0", a)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lend feeds in as a completion-mode connection does: each chunk is lent
// to ProcessLent while the reader holds nothing; of a frame split across
// chunks only its missing bytes are copied in, then the rest of the chunk
// is lent again.
func lend(t *testing.T, r *Reader, e *fakeEngine, in []byte, chunk int) (lent int) {
	t.Helper()
	for len(in) > 0 {
		b := bytes.Clone(in[:min(chunk, len(in))]) // the driver's buffer
		in = in[len(b):]
		n := 0
		for n < len(b) {
			if r.Buffered() == 0 {
				before := len(e.frames)
				k, err := r.ProcessLent(e, b[n:])
				if err != nil {
					t.Fatalf("ProcessLent: %v", err)
				}
				lent += len(e.frames) - before
				if n += k; n == len(b) {
					break
				}
			}
			sp := r.Space()
			if m := r.Missing(); m > 0 && m < len(sp) {
				sp = sp[:m]
			}
			k := copy(sp, b[n:])
			r.Filled(k)
			n += k
			if err := r.Process(e); err != nil {
				t.Fatalf("Process: %v", err)
			}
		}
		r.Idle()
	}
	return lent
}

// TestReaderProcessLent: frames that lie whole in a lent buffer are fed
// from it; a frame split across buffers is copied in and completed by the
// next ones (a large one in a buffer of its own, sized once); order and
// budgets hold throughout.
func TestReaderProcessLent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chunk int
		sizes []int
	}{
		{"all in one buffer", 1 << 20, []int{10, 20, 4096, 40}},
		{"split frames", 5000, []int{4000, 4000, 4000, 4000, 10}},
		{"big frame across buffers", 64 << 10, []int{100, 300 << 10, 50, 60, 200 << 10, 7}},
		{"tiny buffers", 3, []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
			e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r, open: true}
			var in []byte
			for i, n := range tc.sizes {
				in = append(in, frame(uint64(i+1), n)...)
			}
			lent := lend(t, r, e, in, tc.chunk)
			if len(e.frames) != len(tc.sizes) {
				t.Fatalf("got %d frames %v, want %d", len(e.frames), e.frames, len(tc.sizes))
			}
			for i, tid := range e.frames {
				if tid != uint64(i+1) {
					t.Fatalf("frame %d has tid %d: order lost (%v)", i, tid, e.frames)
				}
			}
			if e.budgets != len(tc.sizes) {
				t.Errorf("%d budgets taken for %d frames", e.budgets, len(tc.sizes))
			}
			if tc.chunk >= len(in) && lent != len(tc.sizes) {
				t.Errorf("%d of %d frames fed in place from one buffer holding them all", lent, len(tc.sizes))
			}
			if tc.name == "split frames" && lent < 2 {
				// 5000-byte buffers of ~4 KiB frames: after each split
				// frame is completed, the next one lies whole in the
				// rest of the buffer.
				t.Errorf("%d frames fed in place; the frames after a split one should be", lent)
			}
			if tc.chunk == 3 && lent != 0 {
				t.Errorf("%d frames fed in place from 3-byte buffers", lent)
			}
			if r.Buffered() != 0 || r.Held.Taken() {
				t.Errorf("after the last frame: %d bytes buffered, budget held %v", r.Buffered(), r.Held.Taken())
			}
		})
	}
}

// TestReaderProcessLentRules: nothing is fed in place before the session
// is open or while bytes are buffered (order), and a refused budget stops
// at the frame's start with ErrBlocked.
func TestReaderProcessLentRules(t *testing.T) {
	r := NewReader(ReaderConfig{PrefetchBytes: 64 << 10})
	e := &fakeEngine{fr: msgr2.FrameReader{Rev: msgr2.Rev1}, r: r}
	two := append(frame(1, 10), frame(2, 10)...)
	if n, err := r.ProcessLent(e, two); n != 0 || err != nil {
		t.Fatalf("before open: ProcessLent = %d, %v; want 0, nil", n, err)
	}
	e.open = true
	half := frame(3, 100)
	k := copy(r.Space(), half[:20])
	r.Filled(k)
	if n, err := r.ProcessLent(e, two); n != 0 || err != nil {
		t.Fatalf("with bytes buffered: ProcessLent = %d, %v; want 0, nil", n, err)
	}
	r.Reset()
	e.refuse = true
	if n, err := r.ProcessLent(e, two); n != 0 || !errors.Is(err, ErrBlocked) {
		t.Fatalf("refused budget: ProcessLent = %d, %v; want 0, ErrBlocked", n, err)
	}
	e.refuse = false
	if n, err := r.ProcessLent(e, two); n != len(two) || err != nil || len(e.frames) != 2 {
		t.Fatalf("after the refusal: ProcessLent = %d, %v, frames %v; want %d, nil, 2 frames", n, err, e.frames, len(two))
	}
}
