package monc_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/monc"
)

// TestCephx runs mon commands against a mon that requires cephx of
// everyone, with keyrings made by ceph-authtool, in crc mode and with the
// mon forced to secure mode: as client.admin (version, status, config-key
// set and get) and as a client whose caps (mon "allow r") make a write
// fail with EACCES; a wrong key and an unknown entity fail with
// gomsgr.ErrAuth, not a timeout; after a mon restart the client
// authenticates again. The mon's debug_ms log shows the sessions' mode and
// its debug_auth log our cephx entities.
func TestCephx(t *testing.T) {
	for _, mode := range []string{"crc", "secure"} {
		t.Run(mode, func(t *testing.T) { testCephx(t, mode) })
	}
}

func testCephx(t *testing.T, mode string) {
	opts := []cephtest.Option{cephtest.Cephx(), cephtest.Conf("debug_ms", "20"), cephtest.Conf("debug_auth", "20")}
	if mode == "secure" {
		for _, k := range []string{"ms_mon_service_mode", "ms_mon_cluster_mode", "ms_client_mode", "ms_mon_client_mode"} {
			opts = append(opts, cephtest.Conf(k, "secure"))
		}
	}
	mon := cephtest.StartMon(t, opts...)
	kr := mon.KeyringPath()
	forEach(t, func(t *testing.T, o monc.Options) {
		o.Keyring = kr
		if mode == "secure" && o.NoRevision1 {
			// Secure mode needs msgr2.1's records: refused with a clear
			// error, not a hang.
			if err := dialErr(t, mon, o); !errors.Is(err, gomsgr.ErrAuth) || !strings.Contains(err.Error(), "msgr2.1") {
				t.Fatalf("secure mode over msgr2.0 framing: %v, want gomsgr.ErrAuth naming msgr2.1", err)
			}
			return
		}
		c := dialUnchecked(t, mon, o)
		want := strings.TrimSpace(string(ceph(t, mon, "version")))
		if got, err := c.Version(testCtx(t, 10*time.Second)); err != nil || got != want {
			t.Fatalf("Version() = %q, %v; want %q", got, err, want)
		}
		mustOK(t, c, `{"prefix": "status"}`)
		mustOK(t, c, `{"prefix": "config-key set", "key": "gomsgr/cephx", "val": "v-`+t.Name()+`"}`)
		if got := string(mustOK(t, c, `{"prefix": "config-key get", "key": "gomsgr/cephx"}`)); got != "v-"+t.Name() {
			t.Fatalf("config-key get = %q", got)
		}
	})

	t.Run("restricted", func(t *testing.T) {
		c := dialUnchecked(t, mon, monc.Options{Name: cephtest.RestrictedClient, Keyring: kr})
		mustOK(t, c, `{"prefix": "version"}`)
		r := command(t, c, `{"prefix": "config-key set", "key": "gomsgr/ro", "val": "x"}`)
		if err := r.Err(); !errors.Is(err, syscall.EACCES) {
			t.Fatalf("config-key set as %s: %v, want EACCES", cephtest.RestrictedClient, err)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		k := randomKey(t)
		err := dialErr(t, mon, monc.Options{Key: &k})
		if !errors.Is(err, gomsgr.ErrAuth) {
			t.Fatalf("Dial with a wrong key: %v, want gomsgr.ErrAuth", err)
		}
	})

	t.Run("unknown entity", func(t *testing.T) {
		k := randomKey(t)
		err := dialErr(t, mon, monc.Options{Name: "client.nobody", Key: &k})
		if !errors.Is(err, gomsgr.ErrAuth) {
			t.Fatalf("Dial as an unknown entity: %v, want gomsgr.ErrAuth", err)
		}
	})

	t.Run("auth none refused", func(t *testing.T) {
		if err := dialErr(t, mon, monc.Options{}); !errors.Is(err, gomsgr.ErrAuth) {
			t.Fatalf("Dial with auth none: %v, want gomsgr.ErrAuth", err)
		}
	})

	t.Run("restart", func(t *testing.T) {
		c := dialUnchecked(t, mon, monc.Options{Keyring: kr})
		mustOK(t, c, `{"prefix": "version"}`)
		before := c.Stats().Sessions
		mon.Restart(t)
		mustOK(t, c, `{"prefix": "version"}`)
		if after := c.Stats().Sessions; after <= before {
			t.Fatalf("sessions %d after the restart, %d before: no new session", after, before)
		}
	})

	log, err := os.ReadFile(mon.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{" " + mode + " :", "cephx server client.admin", "cephx server " + cephtest.RestrictedClient} {
		if !strings.Contains(string(log), s) {
			t.Errorf("the mon's log has no %q", s)
		}
	}
}

func randomKey(t *testing.T) cephx.Key {
	t.Helper()
	k, err := cephx.ParseKey("AQBbJjJlAAAAABAAh6GmT6/3xn2nB9oAAxP9aQ==")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// dialErr dials and expects a failure well before the ready timeout.
func dialErr(t *testing.T, mon *cephtest.Mon, o monc.Options) error {
	t.Helper()
	o.Addr = netip.MustParseAddrPort(mon.V2Addr())
	o.ReadyTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	c, err := monc.Dial(ctx, o)
	t.Logf("Dial: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial timed out after %v: %v", time.Since(start), err)
	}
	return err
}
