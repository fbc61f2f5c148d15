package center

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// TestAcquire checks the process-wide stacks: one per configuration,
// shared by every Acquire of it; the users' busy hooks run after busy
// turns and stop running once removed (with a barrier); the last Release
// stops the workers, and a later Acquire starts new ones.
func TestAcquire(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := StackConfig{Workers: 2, Center: Config{Spin: -1}}
	a, err := Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(StackConfig{Workers: 2, Center: Config{Spin: -1, Driver: DefaultDriver, Events: DefaultEvents}})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two Acquires of one configuration (defaults spelled out in one) gave two stacks")
	}
	other, err := Acquire(StackConfig{Workers: 1, Center: Config{Spin: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if other == a {
		t.Fatal("a different worker count gave the same stack")
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}

	var ran [2]atomic.Int64
	remove, err := a.OnBusy(func(w int, busy time.Duration) {
		if busy < 0 {
			t.Errorf("worker %d: busy %v", w, busy)
		}
		ran[w].Add(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range a.Workers() {
		for range 3 {
			if err := w.Center().SubmitWait(ctx, func() {}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The hook runs at the end of the turn, after SubmitWait returned:
	// wait for it.
	for deadline := time.Now().Add(5 * time.Second); ran[0].Load() == 0 || ran[1].Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("busy hook ran %d and %d times on the two workers, want > 0", ran[0].Load(), ran[1].Load())
		}
		time.Sleep(time.Millisecond)
	}
	remove()
	for _, w := range a.Workers() {
		if err := w.Center().SubmitWait(ctx, func() {}); err != nil { // the barrier
			t.Fatal(err)
		}
	}
	before := ran[0].Load() + ran[1].Load()
	for _, w := range a.Workers() {
		if err := w.Center().SubmitWait(ctx, func() {}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if after := ran[0].Load() + ran[1].Load(); after != before {
		t.Errorf("removed hook ran %d more times", after-before)
	}

	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Workers()[0].Center().SubmitWait(ctx, func() {}); err != nil {
		t.Fatalf("stack stopped while a user holds it: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Workers()[0].Center().Submit(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the last Release, Submit = %v, want ErrClosed", err)
	}
	if err := a.Release(ctx); err == nil {
		t.Error("a Release too many succeeded")
	}
	c, err := Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("Acquire after the last Release gave the stopped stack")
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAcquireRefusals: a shared stack takes hooks through OnBusy, and a
// stack of one's own is stopped, not released.
func TestAcquireRefusals(t *testing.T) {
	leakcheck.Check(t)
	if _, err := Acquire(StackConfig{Workers: 1, Center: Config{OnBusy: func(int, time.Duration) {}}}); err == nil {
		t.Error("Acquire with Config.OnBusy succeeded")
	}
	s, err := NewStack(StackConfig{Name: "own", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(context.Background()); err == nil {
		t.Error("Release of a NewStack stack succeeded")
	}
	if _, err := s.OnBusy(func(int, time.Duration) {}); err == nil {
		t.Error("OnBusy on a NewStack stack succeeded")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAcquireConcurrent: goroutines acquire, use and release the shared
// stacks of two configurations at once, adding and removing busy hooks
// meanwhile; every stack they saw ends stopped, none is left registered,
// and no worker goroutine outlives its last user.
func TestAcquireConcurrent(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const users, rounds = 8, 20
	var mu sync.Mutex
	seen := map[*Stack]bool{}
	errs := make(chan error, users)
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				s, err := Acquire(StackConfig{Workers: 1 + (u+r)%2, Center: Config{Spin: -1}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[s] = true
				mu.Unlock()
				var hits atomic.Int64
				remove, err := s.OnBusy(func(int, time.Duration) { hits.Add(1) })
				if err != nil {
					errs <- err
					return
				}
				for _, w := range s.Workers() {
					if err := w.Center().SubmitWait(ctx, func() {}); err != nil {
						errs <- fmt.Errorf("a held stack refused work: %w", err)
						return
					}
				}
				remove()
				if err := s.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	shared.mu.Lock()
	left := len(shared.stacks)
	shared.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d shared stacks still registered after every user released", left)
	}
	for s := range seen {
		if err := s.Workers()[0].Center().Submit(func() {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("a stack outlived its users: Submit = %v", err)
		}
	}
}
