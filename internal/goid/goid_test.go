package goid

import (
	"sync"
	"testing"
)

func TestCurrentStableAndDistinct(t *testing.T) {
	me := Current()
	if me == 0 {
		t.Fatal("Current returned 0")
	}
	if again := Current(); again != me {
		t.Fatalf("Current changed within one goroutine: %#x then %#x", me, again)
	}
	const n = 50
	keys := make(chan uintptr, n)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Current()
			keys <- k
			<-release // keep all alive so that no key is reused
			if Current() != k {
				t.Errorf("key changed within a goroutine")
			}
		}()
	}
	seen := map[uintptr]bool{me: true}
	for i := 0; i < n; i++ {
		k := <-keys
		if seen[k] {
			t.Fatalf("key %#x shared by two live goroutines", k)
		}
		seen[k] = true
	}
	close(release)
	wg.Wait()
}

func TestSlowIDParses(t *testing.T) {
	if slowID() == 0 {
		t.Fatal("slowID returned 0")
	}
}

func BenchmarkCurrent(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Current()
	}
}
