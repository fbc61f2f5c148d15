package uring

import (
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkSendZC measures whether IORING_OP_SEND_ZC (zero-copy send,
// Linux 6.0) beats IORING_OP_SEND on loopback TCP for data segments of the
// messenger's sizes: one send of the size at a time, a goroutine draining
// the peer, bytes per second (b.SetBytes). A zero-copy send completes
// twice: its result, then a notification (IORING_CQE_F_NOTIF) when the
// kernel no longer reads the buffer; the benchmark waits for both, as a
// sender that reuses the buffer must.
//
//	go test -run X -bench SendZC -benchtime 2s ./driver/uring/
func BenchmarkSendZC(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, zc := range []bool{false, true} {
			name := "copy"
			if zc {
				name = "zc"
			}
			b.Run(name+"/"+sizeName(size), func(b *testing.B) { benchSend(b, size, zc) })
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

const (
	opSendZC    = 47     // IORING_OP_SEND_ZC
	cqeFNotif   = 1 << 3 // IORING_CQE_F_NOTIF
	benchUDSend = 77
)

func benchSend(b *testing.B, size int, zc bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // a listener of the benchmark's own
	done := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer func() { _ = c.Close() }() // the reader's end
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				done <- n
				return
			}
		}
	}()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: addr.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	r, err := newRing(8, 16, setupCoopTaskrun|setupTaskrunFlag)
	if err != nil {
		b.Skip(err)
	}
	defer func() {
		if err := r.close(); err != nil {
			b.Error(err)
		}
	}()
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		s, err := r.getSQE()
		if err != nil {
			b.Fatal(err)
		}
		s.opcode, s.fd = opSend, int32(fd)
		if zc {
			s.opcode = opSendZC
		}
		s.addr = uint64(uintptr(unsafe.Pointer(&buf[0]))) // buf is live and heap-held: see msgAddr
		s.len = uint32(size)
		s.opFlags = msgWaitAll
		s.userData = benchUDSend
		want := 1 // the result, and for zc the notification
		for got := 0; got < want; {
			if err := r.submitAndWait(time.Second); err != nil {
				b.Fatal(err)
			}
			head, tail := r.head, r.cqTailAcquire()
			for ; head != tail; head++ {
				e := r.cqeAt(head)
				if e.res < 0 {
					b.Fatalf("send: errno %d", -e.res)
				}
				if e.flags&cqeFNotif == 0 && e.flags&cqeFMore != 0 {
					want = 2
				}
				got++
			}
			r.cqRelease(head)
		}
	}
	b.StopTimer()
	_ = unix.Close(fd)
	<-done
}
