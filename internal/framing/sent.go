package framing

import (
	"sync/atomic"

	"github.com/gomsgr/gomsgr"
)

// SentList holds a lossless session's written messages, in seq order,
// until the peer acknowledges them (Ceph's sent list). The owner appends
// and trims; Len may be read from any goroutine.
type SentList struct {
	msgs []*gomsgr.Message
	head int
	n    atomic.Int64 // len(msgs) - head
}

// Append keeps m, just written, for replay.
func (s *SentList) Append(m *gomsgr.Message) {
	s.msgs = append(s.msgs, m)
	s.n.Add(1)
}

// Len returns the number of written messages not yet acknowledged.
func (s *SentList) Len() int { return int(s.n.Load()) }

// Ack releases every message up to seq and returns how many.
func (s *SentList) Ack(seq uint64) int {
	n := 0
	for s.head < len(s.msgs) && s.msgs[s.head].Seq <= seq {
		s.msgs[s.head].Release()
		s.msgs[s.head] = nil
		s.head++
		n++
	}
	s.n.Add(-int64(n))
	if s.head == len(s.msgs) {
		s.msgs, s.head = s.msgs[:0], 0
	} else if s.head > 64 && s.head > len(s.msgs)/2 {
		k := copy(s.msgs, s.msgs[s.head:])
		clear(s.msgs[k:])
		s.msgs, s.head = s.msgs[:k], 0
	}
	return n
}

// Take empties the list and returns its messages in seq order, for
// requeueing after a fault (Ceph's requeue_sent).
func (s *SentList) Take() []*gomsgr.Message {
	out := append([]*gomsgr.Message(nil), s.msgs[s.head:]...)
	clear(s.msgs)
	s.msgs, s.head = s.msgs[:0], 0
	s.n.Store(0)
	return out
}

// Release releases every message (the session ended).
func (s *SentList) Release() {
	for _, m := range s.Take() {
		m.Release()
	}
}
