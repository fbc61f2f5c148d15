package framing

import (
	"sync"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgint"
	"github.com/gomsgr/gomsgr/msgr2"
)

// MaxIovecs is the most buffers one vectored write takes (IOV_MAX on
// Linux).
const MaxIovecs = 1024

// SecureBatchBytes is how many sealed bytes a Writer in secure mode
// gathers before Full says stop: sealed messages are copies, so a batch is
// bounded in bytes, not only in buffers.
const SecureBatchBytes = 256 << 10

// part is one piece of pending output. On the last piece of a message, m
// and f are set, so that the message is done once the piece is written.
type part struct {
	b []byte
	m *gomsgr.Message
	f *msgr2.MessageFrame
}

var framePool = sync.Pool{New: func() any { return new(msgr2.MessageFrame) }}

// Writer lays out a connection's output for vectored writes: control
// frames (copied, since the engine reuses its buffer) and message frames
// (the payload referenced, not copied). See the package comment.
type Writer struct {
	parts []part
	ctrl  []byte   // control output; reused once every part in it is written
	tmp   [][]byte // a frame's buffers, while it is added
	// Sent keeps written messages until acknowledged, when the session is
	// lossless (Advance's keep).
	Sent SentList
	// Secure, in a secure-mode session, seals each MESSAGE frame into the
	// Writer's own buffer as it is added (the owner sets it from
	// session.Engine.SecureTx). Frames must be sealed in the order they
	// go out: add the engine's control output before the messages that
	// follow it.
	Secure *msgr2.SecureTx
}

// Full reports that a secure-mode Writer holds a batch's worth of sealed
// bytes: add no more messages until some are written.
func (w *Writer) Full() bool { return w.Secure != nil && len(w.ctrl) >= SecureBatchBytes }

// Pending reports whether output waits to be written.
func (w *Writer) Pending() bool { return len(w.parts) > 0 }

// Parts returns the number of buffers waiting; callers stop adding
// messages well before MaxIovecs.
func (w *Writer) Parts() int { return len(w.parts) }

// Control adds the engine's control output (AUTH, IDENT, ACK, KEEPALIVE2
// frames): it is copied, so the engine may reuse its buffer.
func (w *Writer) Control(out []byte) {
	if len(out) == 0 {
		return
	}
	start := len(w.ctrl)
	w.ctrl = append(w.ctrl, out...)
	w.parts = append(w.parts, part{b: w.ctrl[start:len(w.ctrl):len(w.ctrl)]})
}

// Message adds m's MESSAGE frame with header h (seq and ack already
// assigned by the engine) for revision rev. The payload is referenced: m
// must not change until written. Payload crcs computed when m was sent
// (gomsgr's SendMessage) are used instead of checksumming again. In
// secure mode the frame is sealed into the Writer's buffer instead (a
// copy); the error is the sealer's (its nonce counter ran out), after
// which the connection must fault.
func (w *Writer) Message(m *gomsgr.Message, h *msgr2.MsgHeader2, rev msgr2.Revision) error {
	if w.Secure != nil {
		start := len(w.ctrl)
		ctrl, err := w.Secure.AppendMessage(w.ctrl, h, m.Front, m.Middle, m.Data)
		if err != nil {
			return err
		}
		w.ctrl = ctrl
		w.parts = append(w.parts, part{b: w.ctrl[start:len(w.ctrl):len(w.ctrl)], m: m})
		return nil
	}
	f := framePool.Get().(*msgr2.MessageFrame)
	if pc := msgint.PayloadCRCs(m); pc != nil {
		f.EncodeCRC(rev, h, m.Front, m.Middle, m.Data, pc)
	} else {
		f.Encode(rev, h, m.Front, m.Middle, m.Data)
	}
	w.tmp = f.Iovecs(w.tmp[:0])
	for i, b := range w.tmp {
		p := part{b: b}
		if i == len(w.tmp)-1 {
			p.m, p.f = m, f
		}
		w.parts = append(w.parts, p)
	}
	clear(w.tmp)
	return nil
}

// Buffers appends the pending buffers, in order, to dst (for net.Buffers).
func (w *Writer) Buffers(dst [][]byte) [][]byte {
	for i := range w.parts {
		if len(w.parts[i].b) > 0 {
			dst = append(dst, w.parts[i].b)
		}
	}
	return dst
}

// Advance drops n written bytes from the front and reports how many
// messages were completely written. A written message goes to Sent when
// keep is true (a lossless session), and is released otherwise.
func (w *Writer) Advance(n int, keep bool) int {
	done := 0
	i := 0
	for ; i < len(w.parts) && n >= len(w.parts[i].b); i++ {
		n -= len(w.parts[i].b)
		if w.finish(&w.parts[i], keep) {
			done++
		}
	}
	if i < len(w.parts) && n > 0 {
		w.parts[i].b = w.parts[i].b[n:]
	}
	rest := copy(w.parts, w.parts[i:])
	clear(w.parts[rest:])
	w.parts = w.parts[:rest]
	if len(w.parts) == 0 {
		w.ctrl = w.ctrl[:0]
	}
	return done
}

func (w *Writer) finish(p *part, keep bool) bool {
	if p.f != nil {
		framePool.Put(p.f)
	}
	m := p.m
	*p = part{}
	if m == nil {
		return false
	}
	if keep {
		w.Sent.Append(m)
	} else {
		m.Release()
	}
	return true
}

// Drop forgets the pending output (the socket is gone) and returns the
// messages that were being written, in order, for the caller to requeue
// or release.
func (w *Writer) Drop() []*gomsgr.Message {
	var msgs []*gomsgr.Message
	for i := range w.parts {
		p := &w.parts[i]
		if p.f != nil {
			framePool.Put(p.f)
		}
		if p.m != nil {
			msgs = append(msgs, p.m)
		}
		*p = part{}
	}
	w.parts = w.parts[:0]
	w.ctrl = w.ctrl[:0]
	return msgs
}
