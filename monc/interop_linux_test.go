package monc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/monc"
)

// variants are the messenger configurations every interop test runs with:
// both event-loop drivers, and msgr2.0 framing next to msgr2.1.
var variants = []struct {
	name string
	opts monc.Options
}{
	{"epoll", monc.Options{Driver: "epoll"}},
	{"uring", monc.Options{Driver: "uring"}},
	{"epoll-msgr2.0", monc.Options{Driver: "epoll", NoRevision1: true}},
}

func forEach(t *testing.T, f func(t *testing.T, o monc.Options)) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { f(t, v.opts) })
	}
}

func ceph(t *testing.T, mon *cephtest.Mon, args ...string) []byte {
	t.Helper()
	out, err := mon.Ceph(testCtx(t, 30*time.Second), args...)
	if err != nil {
		t.Fatalf("ceph %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func command(t *testing.T, c *monc.Client, cmd string) monc.CommandReply {
	t.Helper()
	r, err := c.Command(testCtx(t, 10*time.Second), cmd)
	if err != nil {
		t.Fatalf("Command(%s): %v", cmd, err)
	}
	return r
}

func mustOK(t *testing.T, c *monc.Client, cmd string) []byte {
	t.Helper()
	r := command(t, c, cmd)
	if err := r.Err(); err != nil {
		t.Fatalf("Command(%s): %v", cmd, err)
	}
	return r.Output
}

// The version the mon reports through gomsgr is what `ceph version` prints,
// and the fsid learned from the monmap is the mon's.
func TestVersion(t *testing.T) {
	want := strings.TrimSpace(string(ceph(t, shared, "version")))
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		got, err := c.Version(testCtx(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Version() = %q, `ceph version` = %q", got, want)
		}
		if !strings.HasPrefix(got, "ceph version 16.2.") {
			t.Errorf("Version() = %q, want a Ceph 16.2 (pacific) mon", got)
		}
		raw := mustOK(t, c, `{"prefix": "version"}`)
		if strings.TrimSpace(string(raw)) != want {
			t.Errorf(`{"prefix": "version"} output %q, want %q`, raw, want)
		}
		fsid, _ := c.FSID()
		if fsid.String() != shared.FSID() {
			t.Errorf("FSID() = %v, want the mon's %v", fsid, shared.FSID())
		}
	})
}

// `mon dump`'s epoch (through gomsgr and through the CLI) equals
// get_version monmap, and get_version osdmap equals the osdmap epoch.
func TestGetVersion(t *testing.T) {
	var cli struct {
		Epoch uint64 `json:"epoch"`
		FSID  string `json:"fsid"`
	}
	if err := json.Unmarshal(ceph(t, shared, "mon", "dump", "--format", "json"), &cli); err != nil {
		t.Fatal(err)
	}
	var osd struct {
		Epoch uint64 `json:"epoch"`
	}
	if err := json.Unmarshal(ceph(t, shared, "osd", "dump", "--format", "json"), &osd); err != nil {
		t.Fatal(err)
	}
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		ctx := testCtx(t, 10*time.Second)
		v, oldest, err := c.GetVersion(ctx, "monmap")
		if err != nil {
			t.Fatal(err)
		}
		var dump struct {
			Epoch uint64 `json:"epoch"`
			FSID  string `json:"fsid"`
		}
		if err := json.Unmarshal(mustOK(t, c, `{"prefix": "mon dump", "format": "json"}`), &dump); err != nil {
			t.Fatal(err)
		}
		if v != dump.Epoch || v != cli.Epoch || oldest == 0 || oldest > v {
			t.Errorf("get_version monmap = %d (oldest %d); mon dump epoch %d through gomsgr, %d through the CLI", v, oldest, dump.Epoch, cli.Epoch)
		}
		if dump.FSID != cli.FSID {
			t.Errorf("mon dump fsid %q through gomsgr, %q through the CLI", dump.FSID, cli.FSID)
		}
		if _, epoch := c.FSID(); uint64(epoch) != v {
			t.Errorf("monmap epoch from MMonMap %d, get_version %d", epoch, v)
		}
		ov, _, err := c.GetVersion(ctx, "osdmap")
		if err != nil {
			t.Fatal(err)
		}
		if ov != osd.Epoch {
			t.Errorf("get_version osdmap = %d, osd dump epoch %d", ov, osd.Epoch)
		}
	})
}

// config-key set through gomsgr is read back by the CLI, and the other way.
func TestConfigKey(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		k1, k2 := "gomsgr/"+t.Name()+"/from-go", "gomsgr/"+t.Name()+"/from-cli"
		val := fmt.Sprintf("go %d", time.Now().UnixNano())
		cmd, _ := json.Marshal(map[string]string{"prefix": "config-key set", "key": k1, "val": val})
		mustOK(t, c, string(cmd))
		if got := string(ceph(t, shared, "config-key", "get", k1)); strings.TrimSpace(got) != val {
			t.Errorf("ceph config-key get %s = %q, want %q", k1, got, val)
		}

		val2 := fmt.Sprintf("cli %d", time.Now().UnixNano())
		ceph(t, shared, "config-key", "set", k2, val2)
		cmd, _ = json.Marshal(map[string]string{"prefix": "config-key get", "key": k2})
		if got := mustOK(t, c, string(cmd)); string(got) != val2 {
			t.Errorf("config-key get %s through gomsgr = %q, want %q", k2, got, val2)
		}

		// A value given as the input buffer (inbl), as `ceph config-key
		// set K -i FILE` does.
		in := bytes.Repeat([]byte("0123456789"), 1000)
		cmd, _ = json.Marshal(map[string]string{"prefix": "config-key set", "key": k1})
		r, err := c.CommandInput(testCtx(t, 10*time.Second), string(cmd), in)
		if err != nil || r.Err() != nil {
			t.Fatalf("config-key set with inbl: %v %v", err, r.Err())
		}
		if got := ceph(t, shared, "config-key", "get", k1); !bytes.Equal(bytes.TrimSpace(got), in) {
			t.Errorf("ceph config-key get after a set with inbl: %d bytes, want %d", len(got), len(in))
		}
	})
}

// status parses as JSON and names our cluster.
func TestStatus(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		var st struct {
			FSID   string `json:"fsid"`
			Health struct {
				Status string `json:"status"`
			} `json:"health"`
			QuorumNames []string `json:"quorum_names"`
		}
		out := mustOK(t, c, `{"prefix": "status", "format": "json"}`)
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("status output is not JSON: %v\n%s", err, out)
		}
		if st.FSID != shared.FSID() || st.Health.Status == "" || len(st.QuorumNames) != 1 {
			t.Errorf("status: fsid %q health %q quorum %v; want fsid %s, a health status, one mon", st.FSID, st.Health.Status, st.QuorumNames, shared.FSID())
		}
	})
}

// An unknown command gets the mon's error code (-EINVAL, "command not
// known"), and a command on a missing key gets -ENOENT: answers, not hangs.
func TestCommandErrors(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		start := time.Now()
		r := command(t, c, `{"prefix": "no such command"}`)
		if r.Rc != -int32(syscall.EINVAL) || !strings.Contains(r.Status, "command not known") {
			t.Errorf("unknown command: rc %d status %q, want -EINVAL and \"command not known\"", r.Rc, r.Status)
		}
		if !errors.Is(r.Err(), syscall.EINVAL) {
			t.Errorf("Err() = %v, want EINVAL", r.Err())
		}
		r = command(t, c, `{"prefix": "config-key get", "key": "gomsgr/does/not/exist"}`)
		if r.Rc != -int32(syscall.ENOENT) {
			t.Errorf("missing key: rc %d status %q, want -ENOENT", r.Rc, r.Status)
		}
		r = command(t, c, `not json`)
		if r.Rc >= 0 {
			t.Errorf("malformed command: rc %d status %q, want an error", r.Rc, r.Status)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("three failing commands took %v", d)
		}
	})
}

// 8 goroutines x 100 commands on one client: every command gets its own
// answer (the status names the key the command asked about).
func TestConcurrentCommands(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		ctx := testCtx(t, 60*time.Second)
		const goroutines, perG = 8, 100
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*perG)
		for g := range goroutines {
			wg.Go(func() {
				for i := range perG {
					key := fmt.Sprintf("gomsgr/conc/%d/%d", g, i)
					r, err := c.Command(ctx, `{"prefix": "config-key exists", "key": "`+key+`"}`)
					switch {
					case err != nil:
						errs <- fmt.Errorf("%s: %w", key, err)
					case r.Rc != -int32(syscall.ENOENT) || r.Status != "key '"+key+"' doesn't exist":
						errs <- fmt.Errorf("%s: got rc %d status %q: a reply to another command", key, r.Rc, r.Status)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n++; n <= 5 {
				t.Error(err)
			}
		}
		if n > 0 {
			t.Errorf("%d of %d commands failed", n, goroutines*perG)
		}
		if s := c.Stats(); s.Sessions != 1 || s.Faults != 0 {
			t.Errorf("stats %+v, want one session and no fault", s)
		}
	})
}

// KEEPALIVE2 is answered: with keepalives every 100ms and an idle timeout
// of 1s, an otherwise silent session stays up for 2.5s (the mon's
// KEEPALIVE2_ACKs are the only input); without keepalives the same session
// times out.
func TestKeepalive(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		o.KeepaliveInterval, o.IdleTimeout = 100*time.Millisecond, time.Second
		c := dial(t, shared, o)
		time.Sleep(2500 * time.Millisecond) // the property is "nothing happens for a while"
		if s := c.Stats(); s.Sessions != 1 || s.Faults != 0 {
			t.Errorf("with keepalives: stats %+v, want one session and no fault", s)
		}
		mustOK(t, c, `{"prefix": "version"}`)

		o.KeepaliveInterval = -1
		quiet := dial(t, shared, o)
		deadline := time.Now().Add(5 * time.Second)
		for quiet.Stats().Faults == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if s := quiet.Stats(); s.Faults == 0 {
			t.Errorf("without keepalives: stats %+v, want the idle timeout to drop the session", s)
		}
	})
}

// What the mon's own log (debug_ms=20) says about gomsgr's sessions: every
// connection line carries "rev1=0|1" and the state, so a session that
// reached READY with rev1=0 exists only once a msgr2.0 client has talked to
// it; and the mon logs each KEEPALIVE2 it handles (TestKeepalive shows that
// the acks come back).
func TestMonLog(t *testing.T) {
	mon := cephtest.StartMon(t, cephtest.Conf("debug_ms", "20"))
	count := func(subs ...string) int {
		b, err := os.ReadFile(mon.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
	lines:
		for _, l := range strings.Split(string(b), "\n") {
			for _, s := range subs {
				if !strings.Contains(l, s) {
					continue lines
				}
			}
			n++
		}
		return n
	}
	c := dialUnchecked(t, mon, monc.Options{KeepaliveInterval: 50 * time.Millisecond})
	mustOK(t, c, `{"prefix": "version"}`)
	waitFor(t, "KEEPALIVE2 in the mon's log", func() bool {
		return count(" s=READY ", " l=1 rev1=1 ", "handle_keepalive2 got KEEPALIVE2") >= 2
	})
	if n := count(" s=READY ", " rev1=0 "); n != 0 {
		t.Errorf("after msgr2.1 sessions only: %d READY lines with rev1=0 in the mon's log", n)
	}
	c0 := dialUnchecked(t, mon, monc.Options{NoRevision1: true})
	mustOK(t, c0, `{"prefix": "version"}`)
	waitFor(t, "a READY rev1=0 session in the mon's log", func() bool { return count(" s=READY ", " rev1=0 ") > 0 })
}

// A large answer: get_command_descriptions is about 73 KiB of JSON in the
// data segment, more than the messenger's 64 KiB read buffer, so the frame
// is read into a buffer of its own.
func TestLargeReply(t *testing.T) {
	forEach(t, func(t *testing.T, o monc.Options) {
		c := dial(t, shared, o)
		for range 3 {
			out := mustOK(t, c, `{"prefix": "get_command_descriptions"}`)
			var descs map[string]struct {
				Sig []any `json:"sig"`
			}
			if err := json.Unmarshal(out, &descs); err != nil || len(out) < 64<<10 || len(descs) < 100 {
				t.Fatalf("get_command_descriptions: %d bytes, %d commands, %v", len(out), len(descs), err)
			}
			mustOK(t, c, `{"prefix": "version"}`)
		}
	})
}
