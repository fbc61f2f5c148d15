package msgrbase

import (
	"log/slog"
	"math/bits"
	"time"
)

// Defaults points at the options both messengers have; SetDefaults fills
// the zero ones with Ceph's ms_* defaults, so that conn.Options and
// simple.Options keep the same names and defaults.
type Defaults struct {
	BindRetryCount        *int           // ms_bind_retry_count 3
	BindRetryDelay        *time.Duration // ms_bind_retry_delay 5s
	PrefetchBytes         *int           // 64 KiB (Ceph's ms_tcp_prefetch_max_size is 4 KiB)
	ReadyTimeout          *time.Duration // ms_connection_ready_timeout 10s
	IdleTimeout           *time.Duration // ms_connection_idle_timeout 900s
	DispatchThrottleBytes *int64         // ms_dispatch_throttle_bytes 100 MiB (negative: off)
	SampleEvery           *int           // 64, rounded up to a power of two (nil: none)
	Logger                **slog.Logger  // slog.Default()
	// The hostile-peer bounds (docs/ARCHITECTURE.md, "Hostile peers");
	// gomsgr's own, Ceph has none of them.
	MessageProgressTimeout *time.Duration // 30s (negative: off)
	ThrottleShare          *float64       // 1/4 (negative or >= 1: off)
	MaxHandshaking         *int           // 4096 (negative: off)
}

// The hostile-peer defaults (the options' doc comments say why).
const (
	DefaultMessageProgressTimeout = 30 * time.Second
	DefaultThrottleShare          = 0.25
	DefaultMaxHandshaking         = 4096
)

// SetDefaults fills the zero (or, for counts and durations, non-positive)
// options d points at. Every field must be set.
func (d Defaults) SetDefaults() {
	positive(d.BindRetryCount, 3)
	positive(d.BindRetryDelay, 5*time.Second)
	positive(d.PrefetchBytes, 64<<10)
	positive(d.ReadyTimeout, 10*time.Second)
	positive(d.IdleTimeout, 900*time.Second)
	if *d.DispatchThrottleBytes == 0 {
		*d.DispatchThrottleBytes = 100 << 20
	}
	if d.SampleEvery != nil {
		positive(d.SampleEvery, 64)
		*d.SampleEvery = 1 << bits.Len(uint(*d.SampleEvery-1))
	}
	if *d.Logger == nil {
		*d.Logger = slog.Default()
	}
	if *d.MessageProgressTimeout == 0 {
		*d.MessageProgressTimeout = DefaultMessageProgressTimeout
	}
	if *d.ThrottleShare == 0 {
		*d.ThrottleShare = DefaultThrottleShare
	}
	if *d.MaxHandshaking == 0 {
		*d.MaxHandshaking = DefaultMaxHandshaking
	}
}

// positive sets *v to def unless it is positive.
func positive[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
