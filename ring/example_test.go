package ring_test

import (
	"fmt"

	"github.com/gomsgr/gomsgr/ring"
)

func ExampleMPSC() {
	q := ring.NewMPSC[string](4)
	done := make(chan bool)
	go func() { done <- q.TryPush("from another goroutine") }()
	<-done
	v, ok := q.Pop()
	fmt.Println(v, ok)
	// Output: from another goroutine true
}
