package rxbuf

import (
	"testing"

	"github.com/gomsgr/gomsgr"
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
