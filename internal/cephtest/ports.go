package cephtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are drawn from [portLow, ephemeral range start) so that they do not
// collide with the local ports of outgoing connections (the kernel takes
// those from the ephemeral range, 32768-60999 by default).
const portLow = 16000

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{} // handed out by this process: never hand out twice
)

// freePorts returns two distinct ports on 127.0.0.1 that nothing listens on
// now, never returned before by this process. Another process can still take
// them before the mon binds them; the caller retries on a bind failure.
func freePorts() (p2, p1 int, err error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	high := ephemeralLow()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			err = errors.Join(err, l.Close())
		}
	}()
	var got []int
	for tries := 0; len(got) < 2 && tries < 200; tries++ {
		port := 0 // let the kernel choose when the range below is unusable
		if high-portLow > 100 {
			port = portLow + rand.IntN(high-portLow)
			if portsUsed[port] {
				continue
			}
		}
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		port = l.Addr().(*net.TCPAddr).Port
		if portsUsed[port] {
			continue
		}
		portsUsed[port] = true
		got = append(got, port)
	}
	if len(got) < 2 {
		return 0, 0, fmt.Errorf("cephtest: no two free ports on 127.0.0.1")
	}
	return got[0], got[1], nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 && n <= 65535 {
				return n
			}
		}
	}
	return 32768
}
