package rxbuf

import (
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

func TestClasses(t *testing.T) {
	for _, n := range []int{0, 1, 256, 257, 4096, 4097, 1 << 20, 1 << 24} {
		b := Get(n)
		if len(b.B) != n || cap(b.B) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b.B), cap(b.B))
		}
		if cap(b.B)&(cap(b.B)-1) != 0 {
			t.Fatalf("Get(%d): cap %d is not a power of two", n, cap(b.B))
		}
		b.Put()
	}
	big := Get(1<<24 + 1)
	if big.class != -1 || len(big.B) != 1<<24+1 {
		t.Fatalf("a buffer over 16 MiB is pooled (class %d)", big.class)
	}
	big.Put()
}

func TestZeroAllocs(t *testing.T) {
	Get(4096).Put()
	if a := testing.AllocsPerRun(1000, func() { Get(4000).Put() }); a != 0 {
		t.Fatalf("Get+Put: %.1f allocs, want 0", a)
	}
	if raceEnabled {
		// Race builds poison released messages instead of pooling them
		// (gomsgr.Message.Release): every message is new there.
		return
	}
	m := gomsgr.GetMessage()
	gomsgr.PutMessage(m)
	if a := testing.AllocsPerRun(1000, func() {
		m := gomsgr.GetMessage()
		b := Get(100)
		m.SetReleaser(Release, b)
		m.Release()
	}); a != 0 {
		t.Fatalf("message with a pooled buffer: %.1f allocs, want 0", a)
	}
}

func TestMessage(t *testing.T) {
	h := &msgr2.MsgHeader2{Type: 0x7001, Priority: 127, Version: 2, CompatVersion: 1, Tid: 9, Seq: 4}
	for _, tc := range []struct {
		name                string
		front, middle, data string
		own                 bool
	}{
		{"all segments", "front", "mid", "data", false},
		{"data only", "", "", "data", false},
		{"front only", "front", "", "", false},
		{"empty", "", "", "", false},
		{"own buffer", "front", "mid", "data", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var own *Buf
			if tc.own {
				own = Get(len(tc.front) + len(tc.middle) + len(tc.data))
			}
			front, middle, data := []byte(tc.front), []byte(tc.middle), []byte(tc.data)
			m := Message(h, front, middle, data, own)
			if m.Type != h.Type || m.Priority != h.Priority || m.Version != h.Version || m.CompatVersion != h.CompatVersion ||
				m.Tid != h.Tid || m.Seq != h.Seq {
				t.Fatalf("header fields %v/%d/%d/%d/%d/%d, want those of %+v", m.Type, m.Priority, m.Version, m.CompatVersion, m.Tid, m.Seq, h)
			}
			if m.DispatchBytes != len(tc.front)+len(tc.middle)+len(tc.data) {
				t.Errorf("DispatchBytes %d, want %d", m.DispatchBytes, len(tc.front)+len(tc.middle)+len(tc.data))
			}
			for _, s := range []struct {
				name      string
				got, want []byte
			}{{"front", m.Front, front}, {"middle", m.Middle, middle}, {"data", m.Data, data}} {
				if string(s.got) != string(s.want) || (len(s.want) == 0) != (s.got == nil) || cap(s.got) != len(s.got) && !tc.own {
					t.Errorf("%s = %q (cap %d, nil %v), want %q, nil when empty, capped at its length", s.name, s.got, cap(s.got), s.got == nil, s.want)
				}
				if len(s.want) > 0 && tc.own != (&s.got[0] == &s.want[0]) {
					t.Errorf("%s aliases the input: %v, want %v (own buffer)", s.name, &s.got[0] == &s.want[0], tc.own)
				}
			}
			m.Release()
		})
	}
}
