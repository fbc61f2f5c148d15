//go:build !linux

package conn

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gomsgr/gomsgr/internal/framing"
)

// errUnsupported: the event-loop messenger runs on Linux only (its
// drivers are epoll and io_uring); use package simple elsewhere.
var errUnsupported = fmt.Errorf("conn: the event-loop messenger needs Linux (use package simple): %w", errors.ErrUnsupported)

type iovecs struct{}

func dialSocket(netip.AddrPort) (socket, error)              { return noSocket, errUnsupported }
func connectError(int) error                                 { return errUnsupported }
func tuneSocket(int, bool, int)                              {}
func readSocket(int, []byte) (int, error)                    { return 0, errUnsupported }
func writeSocket(int, *framing.Writer, *iovecs) (int, error) { return 0, errUnsupported }
func writeNow(int, []byte)                                   {}
func shutdownFD(int)                                         {}
func closeFD(int)                                            {}
func listenSocket(netip.AddrPort, int) (socket, netip.AddrPort, error) {
	return noSocket, netip.AddrPort{}, errUnsupported
}

type acceptResult int

const (
	acceptRetry acceptResult = iota
	acceptDrained
	acceptStarved
	acceptFailed
)

func acceptSocket(int) (socket, netip.AddrPort, acceptResult, error) {
	return noSocket, netip.AddrPort{}, acceptFailed, errUnsupported
}
