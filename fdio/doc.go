// Package fdio reads and writes non-blocking file descriptors with raw
// system calls, for code that runs on an event-loop worker.
//
// The functions here call read(2), write(2), writev(2) and a zero-timeout
// epoll_wait(2) through unix.RawSyscall instead of unix.Syscall. A raw call
// does not tell the Go scheduler that the goroutine entered the kernel. With
// the ordinary call, the runtime's sysmon thread takes the P away from any
// thread that has been in a system call for about 20 µs and starts another
// thread to use it; when the call returns, the worker has to wait for a P
// again. A 64 KiB write on a loopback socket runs the receiver's TCP input in
// the writer's call and often takes longer than that, so an event-loop worker
// doing nothing but such calls paid two thread switches per call (the gain
// measured in bench/peers is in bench/RESULTS.md).
//
// The price is that the calling thread keeps its P for the whole call: no
// other goroutine runs on it and a stop-the-world waits until the call
// returns. That is bounded because the descriptor is non-blocking, so these
// functions must never be given a blocking descriptor, and because a call
// that may copy more than RawMax (1 MiB) takes the ordinary path. Blocking waits
// (epoll_wait with a timeout, io_uring_enter waiting for completions) belong
// with unix.Syscall.
//
// Errors are the bare unix.Errno values (compare with ==, for example
// err == unix.EAGAIN); they do not allocate. EINTR is returned to the caller,
// which retries.
//
// The package exists only on Linux, the one system the event loop runs on:
// elsewhere it is empty, and its users keep their calls in _linux.go files.
package fdio
