package center_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/center"
)

// A center runs timers and external events on its owner goroutine.
func Example() {
	c, err := center.New(center.Config{})
	if err != nil {
		panic(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- c.Run() }()
	done := make(chan string)
	var t center.Timer
	t.Init(func() { done <- "timer fired on the owner" })
	if err := c.SubmitWait(context.Background(), func() {
		c.AddTimer(&t, 5*time.Millisecond) // owner-only: run it there
	}); err != nil {
		fmt.Println("submit:", err)
	}
	fmt.Println(<-done)
	c.Stop()
	if err := <-ran; err != nil {
		fmt.Println("run:", err)
	}
	if err := c.Close(); err != nil {
		fmt.Println("close:", err)
	}
	// Output: timer fired on the owner
}

// A Stack hands out the least-loaded worker.
func ExampleStack() {
	s, err := center.NewStack(center.StackConfig{Name: "example", Workers: 2})
	if err != nil {
		panic(err)
	}
	a, b := s.Pick(), s.Pick()
	fmt.Println(a.ID() != b.ID())
	if err := s.Stop(context.Background()); err != nil {
		fmt.Println("stop:", err)
	}
	// Output: true
}

// Acquire gives every user of one configuration the same process-wide
// stack (Ceph's StackSingleton); the last Release stops it.
func ExampleAcquire() {
	cfg := center.StackConfig{Workers: 1}
	a, err := center.Acquire(cfg)
	if err != nil {
		panic(err)
	}
	b, err := center.Acquire(cfg)
	if err != nil {
		panic(err)
	}
	fmt.Println("shared:", a == b)
	ctx := context.Background()
	if err := a.Release(ctx); err != nil {
		fmt.Println("release:", err)
	}
	// b still holds it: its workers still run.
	fmt.Println("running:", b.Workers()[0].Center().SubmitWait(ctx, func() {}) == nil)
	if err := b.Release(ctx); err != nil {
		fmt.Println("release:", err)
	}
	// Output:
	// shared: true
	// running: true
}
