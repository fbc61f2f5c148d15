package msgrbase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// BindConfig is how a messenger binds: a port of 0 takes a kernel-chosen
// port, unless PortMin..PortMax is set, which scans Ceph's way
// (ms_bind_port_min, ms_bind_port_max) and retries RetryCount times,
// RetryDelay apart (ms_bind_retry_count, ms_bind_retry_delay).
type BindConfig struct {
	PortMin, PortMax int
	RetryCount       int
	RetryDelay       time.Duration
	Logger           *slog.Logger
	Prefix           string
}

// Check reports a bad port range.
func (b BindConfig) Check() error {
	if b.PortMin < 0 || b.PortMax > 65535 || b.PortMin > b.PortMax {
		return fmt.Errorf("%s: bad bind port range %d..%d", b.Prefix, b.PortMin, b.PortMax)
	}
	return nil
}

// Bind listens on addr with listen, as Ceph's Processor::bind does: a
// given port is tried once; port 0 takes a kernel port, or with a range
// scans it, skipping avoid, and retries while every port is in use, until
// ctx ends.
func Bind[L any](ctx context.Context, b BindConfig, addr netip.AddrPort, avoid []uint16, listen func(netip.AddrPort) (L, error)) (L, error) {
	var zero L
	ports := []int{int(addr.Port())}
	retries := 0
	if addr.Port() == 0 && b.PortMax > 0 {
		ports, retries = nil, b.RetryCount
		for p := b.PortMin; p <= b.PortMax; p++ {
			if !slices.Contains(avoid, uint16(p)) {
				ports = append(ports, p)
			}
		}
	}
	var lastErr error
	for try := 0; try <= retries; try++ {
		if try > 0 {
			b.Logger.Warn(b.Prefix+": bind failed, retrying", "addr", addr, "err", lastErr, "delay", b.RetryDelay)
			t := time.NewTimer(b.RetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return zero, fmt.Errorf("%s: bind %v: %w (last: %w)", b.Prefix, addr, ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		for _, port := range ports {
			l, err := listen(netip.AddrPortFrom(addr.Addr(), uint16(port)))
			if err == nil {
				return l, nil
			}
			lastErr = err
			if !errors.Is(err, syscall.EADDRINUSE) {
				return zero, err
			}
		}
	}
	if len(ports) == 0 {
		return zero, fmt.Errorf("%s: bind %v: no port left in %d..%d", b.Prefix, addr, b.PortMin, b.PortMax)
	}
	return zero, fmt.Errorf("%s: bind %v: no free port in %d tries: %w", b.Prefix, addr, retries+1, lastErr)
}
