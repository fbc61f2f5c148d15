package framing

import (
	"errors"
	"fmt"

	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/internal/rxbuf"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

// smallBytes is the inline buffer a Reader with SmallIdle waits with while
// traffic is light: ping-pong sized messages never need a prefetch buffer.
const smallBytes = 512

// lightReadsToShrink is how many reads in a row of at most smallBytes that
// drained the socket send a SmallIdle reader back to its small buffer.
const lightReadsToShrink = 8

// ErrBlocked is what Process returns when the feeder refused a MESSAGE
// frame's budget: the owner stops reading until it can try again.
var ErrBlocked = errors.New("framing: receive throttle full")

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// PrefetchBytes is the read buffer's size (ms_tcp_prefetch_max_size).
	PrefetchBytes int
	// MaxSegmentBytes bounds each segment a peer may announce.
	MaxSegmentBytes uint32
	// SmallIdle keeps a small inline buffer while traffic is light, for an
	// owner that blocks in read (it must hold some buffer while it
	// waits). Without it the Reader holds no buffer at all when idle.
	SmallIdle bool
	// Prefix starts error messages ("conn", "simple").
	Prefix string
}

// Feeder is the session engine as a Reader feeds it: the connection wraps
// its engine (and its lock, counters and dispatch) in one.
type Feeder interface {
	// Feed is session.Engine.Feed: it consumes n bytes of b (whole frames)
	// and says how many bytes the next item needs in all when it cannot.
	Feed(b []byte) (n, need int, err error)
	// Open reports whether the session is open: MESSAGE frames are then
	// fed one at a time, each with its budget.
	Open() bool
	// Peek reads the preamble of the frame at the start of b and its size
	// on the wire (session.Engine.PeekFrame: in secure mode it opens the
	// frame's first record in place); msgr2.ErrShort when b is too short.
	Peek(b []byte) (msgr2.Preamble, int, error)
	// Budget takes the receive-throttle budget of a MESSAGE frame whose
	// payload (front, middle and data) is size bytes into h; false stops
	// reading (ErrBlocked). (A size, not the preamble: a pointer passed
	// through an interface escapes, and would cost an allocation a frame.)
	Budget(size int64, h *msgrbase.Held) bool
}

// Reader is a connection's receive side. See the package comment.
type Reader struct {
	cfg   ReaderConfig
	pb    *rxbuf.Buf // the prefetch buffer, when held
	big   *rxbuf.Buf // buf is this frame-sized buffer, until a message takes it
	buf   []byte     // the current buffer: small, pb.B or big.B
	r, w  int        // unconsumed bytes are buf[r:w]
	small *[smallBytes]byte
	light int  // SmallIdle: light reads in a row
	space int  // the length Space last returned
	want  int  // bytes the item at r.r needs in all, when Process knows (0: not known)
	big0  bool // the frame-sized buffer was taken by a message
	// Held is the budget taken for the MESSAGE frame at the front, until
	// the message it becomes takes it (Move) or it is dropped.
	Held msgrbase.Held
}

// NewReader returns a Reader.
func NewReader(cfg ReaderConfig) *Reader {
	r := &Reader{}
	r.Init(cfg)
	return r
}

// Init sets up r in place (for a Reader embedded in a connection).
func (r *Reader) Init(cfg ReaderConfig) {
	r.cfg = cfg
	if r.cfg.MaxSegmentBytes == 0 {
		r.cfg.MaxSegmentBytes = msgr2.DefaultMaxSegmentBytes
	}
	if cfg.SmallIdle {
		r.small = new([smallBytes]byte)
	}
}

// Buffered returns the number of bytes read and not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// Space returns where the next read goes: the free end of the buffer,
// taking a buffer or making room when there is none.
func (r *Reader) Space() []byte {
	if r.buf == nil {
		if r.small != nil {
			r.buf = r.small[:]
		} else {
			r.buf = r.prefetch()
		}
	}
	if r.small != nil && r.onSmall() && r.r > 0 {
		// Keep the small buffer's room whole: move the partial frame to
		// its start.
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		r.makeRoom(r.w - r.r + 1)
	}
	b := r.buf[r.w:]
	r.space = len(b)
	return b
}

// Filled records that n bytes were read into the slice Space returned.
func (r *Reader) Filled(n int) {
	r.w += n
	if r.small == nil {
		return
	}
	switch {
	case n > smallBytes:
		r.light = 0
	case n < r.space:
		r.light++
	}
	if r.onSmall() && n == r.space {
		// Data is streaming in: read it in prefetch-sized bites.
		r.makeRoom(r.cfg.PrefetchBytes)
	}
}

func (r *Reader) onSmall() bool { return r.small != nil && len(r.buf) > 0 && &r.buf[0] == &r.small[0] }

func (r *Reader) prefetch() []byte {
	if r.pb == nil {
		r.pb = rxbuf.Get(r.cfg.PrefetchBytes)
	}
	return r.pb.B
}

// Idle tells the Reader its owner drained the socket and will wait for
// more: without SmallIdle an empty Reader gives its prefetch buffer back
// (an idle connection holds no read buffer); with it, the Reader goes back
// to its small buffer once traffic has been light for a while.
func (r *Reader) Idle() {
	if r.r != r.w || r.big != nil {
		return
	}
	r.r, r.w = 0, 0
	if r.small == nil {
		r.dropPrefetch()
		r.buf = nil
		return
	}
	if !r.onSmall() && r.light >= lightReadsToShrink {
		r.dropPrefetch()
		r.buf = r.small[:]
	}
}

func (r *Reader) dropPrefetch() {
	if r.pb != nil {
		r.pb.Put()
		r.pb = nil
	}
}

// TakeBig hands the frame-sized buffer the current frame was read into to
// the message it becomes (nil when the frame is in the shared buffer and
// must be copied out).
func (r *Reader) TakeBig() *rxbuf.Buf {
	b := r.big
	if b != nil {
		r.big, r.big0 = nil, true
	}
	return b
}

// Process feeds the buffered bytes to f, frame by frame once the session is
// open, and makes room for the next item. It returns ErrBlocked when f
// refused a MESSAGE frame's budget, or the feeder's error.
//
// Once the session is open, each MESSAGE frame's budget is taken when its
// preamble is in the buffer, before the rest of it is read; the engine is
// then fed that one frame. Before, a frame is limited to PrefetchBytes: an
// unauthenticated peer does not get a frame buffer of up to 4 ×
// MaxSegmentBytes.
func (r *Reader) Process(f Feeder) error {
	for r.r < r.w {
		avail := r.buf[r.r:r.w]
		truncated := false
		open := f.Open()
		if open && len(avail) >= msgr2.PreambleSize {
			p, fs, err := f.Peek(avail)
			if err == nil { // else: Feed reports the error, or the need
				if p.Tag == msgr2.TagMessage && !r.Held.Taken() && !f.Budget(payloadSize(&p), &r.Held) {
					return ErrBlocked
				}
				if fs < len(avail) {
					avail, truncated = avail[:fs], true
				}
			}
		}
		n, need, err := f.Feed(avail)
		r.r += n
		if n > 0 {
			r.want = 0
		}
		if err != nil {
			return err
		}
		if n > 0 && r.Held.Taken() {
			// The frame was consumed without a delivery (a duplicate or
			// an aborted frame): give its budget back.
			r.Held.Release()
		}
		if r.r == r.w {
			r.consumed()
		}
		if n == 0 || (!truncated && need > 0) {
			if need > r.cfg.PrefetchBytes && !f.Open() {
				return fmt.Errorf("%s: %w: %d-byte frame before the session is open (limit %d)",
					r.cfg.Prefix, session.ErrProtocol, need, r.cfg.PrefetchBytes)
			}
			if need > 0 {
				r.makeRoom(need)
				r.want = need
			}
			break
		}
	}
	return nil
}

// ProcessLent processes the whole frames at the start of b where they lie,
// without copying them into the Reader: b is a buffer lent for the call
// (a driver's provided buffer in completion mode), so the feeder copies
// out what it keeps, as it does from the shared prefetch buffer. It only
// does so once the session is open and while nothing is buffered (frames
// must arrive in order); it stops at the first partial frame, which the
// owner then copies in (Space, Filled, Process) with the rest of b. It
// returns the bytes of b consumed, and Process's errors: ErrBlocked when
// the feeder refused a frame's budget (that frame is not consumed).
func (r *Reader) ProcessLent(f Feeder, b []byte) (int, error) {
	if r.r != r.w || r.big != nil {
		return 0, nil
	}
	n := 0
	for len(b)-n >= msgr2.PreambleSize && f.Open() {
		avail := b[n:]
		p, fs, err := f.Peek(avail)
		if err != nil || fs > len(avail) || fs <= 0 {
			break // a partial frame, or an error Process reports
		}
		if p.Tag == msgr2.TagMessage && !r.Held.Taken() && !f.Budget(payloadSize(&p), &r.Held) {
			return n, ErrBlocked
		}
		k, _, err := f.Feed(avail[:fs])
		n += k
		if err != nil {
			return n, err
		}
		if k > 0 && r.Held.Taken() {
			r.Held.Release() // consumed without a delivery
		}
		if k == 0 {
			break
		}
	}
	return n, nil
}

// Missing returns how many more bytes the partial item buffered needs to
// be whole, when Process knows its size (0 otherwise). An owner that lends
// its buffers (ProcessLent) copies in only that many, so that what follows
// the item is processed in place.
func (r *Reader) Missing() int {
	if r.want <= r.w-r.r {
		return 0
	}
	return r.want - (r.w - r.r)
}

// consumed resets an emptied buffer; a frame-sized one was taken by its
// message or goes back to its pool.
func (r *Reader) consumed() {
	r.r, r.w, r.want = 0, 0, 0
	if r.big != nil || r.big0 {
		r.dropBig()
		r.big0 = false
		switch {
		case r.pb != nil:
			r.buf = r.pb.B
		case r.small != nil:
			r.buf = r.small[:]
		default:
			r.buf = nil
		}
	}
}

func (r *Reader) dropBig() {
	if r.big != nil {
		r.big.Put()
		r.big = nil
	}
}

// makeRoom ensures the unconsumed bytes plus room for an item of need
// bytes in all fit in the buffer, moving or growing it.
func (r *Reader) makeRoom(need int) {
	pending := r.w - r.r
	if need <= len(r.buf)-r.r {
		return
	}
	old := r.big
	r.big = nil
	switch {
	case r.onSmall() && need <= smallBytes:
		copy(r.small[:], r.buf[r.r:r.w])
		r.buf = r.small[:]
	case need <= r.cfg.PrefetchBytes:
		pb := r.prefetch()
		copy(pb, r.buf[r.r:r.w]) // may overlap (the same buffer): copy moves
		r.buf = pb
	default:
		// A frame larger than the prefetch buffer: read it into a pooled
		// buffer of its own, which its message keeps (no copy of the
		// payload). need is bounded by MaxSegmentBytes per segment.
		nb := rxbuf.Get(need)
		copy(nb.B, r.buf[r.r:r.w])
		r.buf, r.big = nb.B, nb
	}
	if old != nil {
		old.Put()
	}
	r.r, r.w = 0, pending
}

// Reset forgets everything buffered (the socket is gone) and gives the
// buffers and any held budget back.
func (r *Reader) Reset() {
	r.Held.Release()
	r.dropBig()
	r.big0 = false
	r.dropPrefetch()
	r.buf = nil
	r.r, r.w, r.light, r.want = 0, 0, 0, 0
}

// payloadSize returns the bytes of a MESSAGE frame's payload segments
// (segment 0 is the header).
func payloadSize(p *msgr2.Preamble) int64 {
	var size int64
	for i := 1; i < int(p.NumSegments); i++ {
		size += int64(p.Segments[i].Len)
	}
	return size
}
