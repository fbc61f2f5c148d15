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
	go c.Run()
	done := make(chan string)
	var t center.Timer
	t.Init(func() { done <- "timer fired on the owner" })
	c.SubmitWait(context.Background(), func() {
		c.AddTimer(&t, 5*time.Millisecond) // owner-only: run it there
	})
	fmt.Println(<-done)
	c.Stop()
	c.Close()
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
	s.Stop(context.Background())
	// Output: true
}
