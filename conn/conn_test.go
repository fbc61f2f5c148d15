package conn_test

import (
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

func factory(driverName string) msgrtest.Factory { return factoryWait(driverName, center.WaitAuto) }

// factoryWait makes messengers on driverName with the given wait mode
// (WaitAuto: thread for uring, poller for epoll).
func factoryWait(driverName string, wait center.WaitMode) msgrtest.Factory {
	return factoryIO(driverName, wait, center.IOAuto)
}

// completion makes messengers on io_uring in completion mode.
func completion(wait center.WaitMode) msgrtest.Factory {
	return factoryIO("uring", wait, center.IOCompletion)
}

func factoryIO(driverName string, wait center.WaitMode, io center.IOMode) msgrtest.Factory {
	return func(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
		workers := cfg.Workers
		if workers == 0 {
			workers = 2
		}
		m, err := conn.NewMessenger(conn.Options{
			Name:         cfg.Name,
			Workers:      workers,
			Center:       center.Config{Driver: driverName, Wait: wait, IO: io},
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
}

func TestMessengerEpoll(t *testing.T) { msgrtest.Run(t, factory("epoll")) }
func TestMessengerUring(t *testing.T) { msgrtest.Run(t, factory("uring")) }

// TestAuth runs the authentication scenarios (Ceph's test_msgr AuthTest).
func TestAuth(t *testing.T) {
	bothDrivers(t, func(t *testing.T, d string) { msgrtest.RunAuth(t, factory(d)) })
}

// The lossless scenarios (Ceph's test_msgr ReconnectTest, StatefulTest,
// ClientStandbyTest, ConnectionRaceTest, ...), on both drivers.
func TestLosslessEpoll(t *testing.T) { msgrtest.RunLossless(t, factory("epoll")) }
func TestLosslessUring(t *testing.T) { msgrtest.RunLossless(t, factory("uring")) }

// The synthetic workload (Ceph's SyntheticWorkload), on both drivers.
func TestSyntheticEpoll(t *testing.T) { msgrtest.RunSynthetic(t, factory("epoll")) }
func TestSyntheticUring(t *testing.T) { msgrtest.RunSynthetic(t, factory("uring")) }

// Completion mode (io_uring receiving into its buffers and sending from
// the writer's): the whole suite, the lossless scenarios and the
// synthetic workload.
func TestMessengerCompletion(t *testing.T) { msgrtest.Run(t, completion(center.WaitAuto)) }
func TestMessengerCompletionPoller(t *testing.T) {
	msgrtest.Run(t, completion(center.WaitPoller))
}
func TestAuthCompletion(t *testing.T)     { msgrtest.RunAuth(t, completion(center.WaitAuto)) }
func TestLosslessCompletion(t *testing.T) { msgrtest.RunLossless(t, completion(center.WaitAuto)) }
func TestSyntheticCompletion(t *testing.T) {
	msgrtest.RunSynthetic(t, completion(center.WaitAuto))
}

// The wait modes WaitAuto does not pick: the suite runs on them too.
func TestMessengerUringPoller(t *testing.T) {
	msgrtest.Run(t, factoryWait("uring", center.WaitPoller))
}
func TestMessengerEpollThread(t *testing.T) {
	msgrtest.Run(t, factoryWait("epoll", center.WaitThread))
}
