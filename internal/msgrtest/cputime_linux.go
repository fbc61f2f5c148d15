package msgrtest

import "syscall"

// cpuTime returns the CPU time (user and system) the process has used, in
// ns, or -1 if getrusage fails. Per message it is a steadier measure of
// work than wall time on a shared machine: waiting for a CPU does not
// count.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
