package conn_test

import (
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/conn"
	"github.com/gomsgr/gomsgr/internal/msgrtest"
)

func factory(driverName string) msgrtest.Factory {
	return func(t testing.TB, cfg msgrtest.Config) gomsgr.Messenger {
		m, err := conn.NewMessenger(conn.Options{
			Name:         cfg.Name,
			Workers:      2,
			Center:       center.Config{Driver: driverName},
			IdleTimeout:  cfg.IdleTimeout,
			ReadyTimeout: cfg.ReadyTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func TestMessengerEpoll(t *testing.T) { msgrtest.Run(t, factory("epoll")) }
func TestMessengerUring(t *testing.T) { msgrtest.Run(t, factory("uring")) }
