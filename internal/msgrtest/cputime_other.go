//go:build !linux

package msgrtest

// cpuTime returns -1: the process's CPU time is read with getrusage on
// Linux only, so the benchmarks report no cpu-ns/op here.
func cpuTime() int64 { return -1 }
