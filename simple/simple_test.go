package simple_test

import (
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
	"github.com/gomsgr/gomsgr/simple"
)

func factory(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
	m, err := simple.NewMessenger(simple.Options{
		Name:         cfg.Name,
		IdleTimeout:  cfg.IdleTimeout,
		ReadyTimeout: cfg.ReadyTimeout,

		InitialBackoff:        cfg.InitialBackoff,
		MaxBackoff:            cfg.MaxBackoff,
		DispatchThrottleBytes: cfg.DispatchThrottleBytes,

		MessageProgressTimeout: cfg.MessageProgressTimeout,
		ThrottleShare:          cfg.ThrottleShare,
		MaxHandshaking:         cfg.MaxHandshaking,

		Testing: cfg.Testing,
		Logger:  cfg.Logger,
		Auth:    cfg.Auth,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMessenger(t *testing.T) { msgrtest.Run(t, factory) }

// TestLossless runs the lossless scenarios (Ceph's test_msgr
// ReconnectTest, StatefulTest, ClientStandbyTest, ConnectionRaceTest, ...).
// TestAuth runs the authentication scenarios (Ceph's test_msgr AuthTest).
func TestAuth(t *testing.T) { msgrtest.RunAuth(t, factory) }

func TestLossless(t *testing.T) { msgrtest.RunLossless(t, factory) }

// TestSynthetic runs the synthetic workload (Ceph's SyntheticWorkload).
func TestSynthetic(t *testing.T) { msgrtest.RunSynthetic(t, factory) }

// dthrCur reads a messenger's dispatch throttle.
func dthrCur(m interface{ DispatchThrottleBytes() (int64, int64) }) int64 {
	c, _ := m.DispatchThrottleBytes()
	return c
}
