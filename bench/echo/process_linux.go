package echo

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinSelf restricts every thread of this process to cpu (new threads
// inherit the mask from their creator). It needs Linux: elsewhere it
// returns an error wrapping errors.ErrUnsupported.
func PinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("echo: pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}
