package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gomsgr/gomsgr/internal/cephtest"
)

func TestMain(m *testing.M) {
	// Install (as root) or fail with instructions: never skip.
	if err := cephtest.Install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// gomsgrCeph runs the command line in-process and returns the exit code,
// stdout and stderr.
func gomsgrCeph(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func cli(t *testing.T, mon *cephtest.Mon, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := mon.Ceph(ctx, args...)
	if err != nil {
		t.Fatalf("ceph %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCLI(t *testing.T) {
	mon := cephtest.StartMon(t)
	m := mon.V2Addr()
	for _, driver := range []string{"epoll", "uring"} {
		t.Run(driver, func(t *testing.T) {
			code, out, errs := gomsgrCeph(t, "-m", m, "-driver", driver, "version")
			if want := cli(t, mon, "version"); code != 0 || out != want {
				t.Errorf("version: exit %d, stdout %q (stderr %q); want %q like `ceph version`", code, out, errs, want)
			}

			code, out, errs = gomsgrCeph(t, "-m", m, "-driver", driver, "command", `{"prefix": "status", "format": "json"}`)
			var st struct {
				FSID string `json:"fsid"`
			}
			if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.FSID != mon.FSID() {
				t.Errorf("command status: exit %d, %v, stdout %q stderr %q", code, err, out, errs)
			}

			code, out, errs = gomsgrCeph(t, "-m", m, "-driver", driver, "command", `{"prefix": "no such command"}`)
			if code != 1 || out != "" || errs != "Error EINVAL: command not known\n" {
				t.Errorf("unknown command: exit %d, stdout %q, stderr %q; want 1 and Error EINVAL", code, out, errs)
			}

			code, out, errs = gomsgrCeph(t, "-m", m, "-driver", driver, "get-version", "monmap")
			if code != 0 || out != "monmap version 1 (oldest 1)\n" {
				t.Errorf("get-version monmap: exit %d, stdout %q, stderr %q", code, out, errs)
			}

			// -i: the value of config-key set comes from a file.
			in := filepath.Join(t.TempDir(), "value")
			if err := os.WriteFile(in, []byte("from a file "+driver), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs = gomsgrCeph(t, "-m", m, "-driver", driver, "command", `{"prefix": "config-key set", "key": "gomsgr-ceph/`+driver+`"}`, "-i", in)
			if got := cli(t, mon, "config-key", "get", "gomsgr-ceph/"+driver); code != 0 || got != "from a file "+driver {
				t.Errorf("command -i: exit %d (stderr %q), ceph config-key get = %q", code, errs, got)
			}
		})
	}
}

// -c, -n and -k against a mon that requires cephx: the ceph.conf gives
// the mon's address and the keyring; a client with read-only caps gets
// EACCES for a write, as the ceph CLI prints it; without a keyring the
// client speaks auth none and the mon refuses it.
func TestCephxFlags(t *testing.T) {
	mon := cephtest.StartMon(t, cephtest.Cephx())
	want := cli(t, mon, "version")
	if code, out, errs := gomsgrCeph(t, "-c", mon.ConfPath(), "version"); code != 0 || out != want {
		t.Errorf("-c conf version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, errs := gomsgrCeph(t, "-m", mon.V2Addr(), "-n", "client.admin", "-k", mon.KeyringPath(), "version"); code != 0 || out != want {
		t.Errorf("-m -n -k version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs := gomsgrCeph(t, "-c", mon.ConfPath(), "-n", cephtest.RestrictedClient, "command", `{"prefix": "config-key set", "key": "k", "val": "v"}`)
	if code != 1 || errs != "Error EACCES: access denied\n" {
		t.Errorf("write as %s: exit %d, stderr %q; want 1 and Error EACCES", cephtest.RestrictedClient, code, errs)
	}
	code, _, errs = gomsgrCeph(t, "-m", mon.V2Addr(), "-k", filepath.Join(t.TempDir(), "missing"), "version")
	if code != 1 || !strings.Contains(errs, "missing") {
		t.Errorf("missing keyring: exit %d, stderr %q", code, errs)
	}
	code, _, errs = gomsgrCeph(t, "-m", mon.V2Addr(), "-timeout", "5s", "version")
	if code != 1 || !strings.Contains(errs, "authentication failed") {
		t.Errorf("auth none against cephx: exit %d, stderr %q; want an authentication error", code, errs)
	}
}

// TestTell runs `tell osd.N` against a real ceph-osd, as the ceph CLI
// does: the output is the CLI's, an unknown command exits 1 with the
// OSD's error.
func TestTell(t *testing.T) {
	mon := cephtest.StartMon(t, cephtest.Cephx())
	osd := cephtest.StartOSD(t, mon)
	target := fmt.Sprintf("osd.%d", osd.ID)
	want := cli(t, mon, "tell", target, "version")
	code, out, errs := gomsgrCeph(t, "-c", mon.ConfPath(), "tell", target, `{"prefix": "version"}`)
	if code != 0 || jsonVersion(t, out) != jsonVersion(t, want) {
		t.Errorf("tell %s version: exit %d, stdout %q (ceph CLI: %q), stderr %q", target, code, out, want, errs)
	}
	code, _, errs = gomsgrCeph(t, "-c", mon.ConfPath(), "tell", target, `{"prefix": "frobnicate"}`)
	if code != 1 || !strings.HasPrefix(errs, "Error E") {
		t.Errorf("tell %s frobnicate: exit %d, stderr %q; want 1 and an Error line", target, code, errs)
	}
}

func jsonVersion(t *testing.T, s string) string {
	t.Helper()
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil || v.Version == "" {
		t.Fatalf("no version in %q: %v", s, err)
	}
	return v.Version
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"-m", "127.0.0.1:1", "get-version"}, {"-m", "127.0.0.1:1", "command"},
		{"-m", "127.0.0.1:1", "tell", "mon.a", "{}"}, {"-m", "127.0.0.1:1", "tell", "osd.0"}} {
		if code, _, _ := gomsgrCeph(t, args...); code != 2 {
			t.Errorf("gomsgr-ceph %q: exit %d, want 2 (usage)", args, code)
		}
	}
	code, _, errs := gomsgrCeph(t, "-m", "not-an-address", "version")
	if code != 1 || !strings.Contains(errs, "not-an-address") {
		t.Errorf("bad -m: exit %d stderr %q", code, errs)
	}
}

// No mon: a clear error within -timeout.
func TestNoMon(t *testing.T) {
	start := time.Now()
	code, _, errs := gomsgrCeph(t, "-m", "127.0.0.1:1", "-timeout", "500ms", "version")
	if code != 1 || !strings.Contains(errs, "connection refused") || time.Since(start) > 2*time.Second {
		t.Errorf("no mon: exit %d after %v, stderr %q", code, time.Since(start), errs)
	}
}

// bench and compare run end to end (briefly): gomsgr on both drivers and
// librados through python3-rados against the same throwaway mon.
func TestThrowawayCompare(t *testing.T) {
	js := filepath.Join(t.TempDir(), "out.json")
	code, out, errs := gomsgrCeph(t, "-throwaway", "compare", "-c", "2", "-d", "200ms", "-warmup", "50ms", "-rounds", "2", "-json", js)
	if code != 0 {
		t.Fatalf("compare: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	t.Logf("\n%s", out)
	var rs []result
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &rs); err != nil || len(rs) != 3 {
		t.Fatalf("compare -json: %v, %d results\n%s", err, len(rs), b)
	}
	for _, r := range rs {
		if r.Ops == 0 || r.P50us <= 0 || r.P99us < r.P50us || r.Concurrency != 2 {
			t.Errorf("result %+v: want commands answered and sane percentiles", r)
		}
	}
	if !strings.Contains(out, "ratios to librados") || !strings.Contains(errs, "throwaway mon.a") {
		t.Errorf("compare output lacks the ratios or the mon line:\n%s\n%s", out, errs)
	}
}

func TestBench(t *testing.T) {
	mon := cephtest.StartMon(t)
	code, out, errs := gomsgrCeph(t, "-m", mon.V2Addr(), "-msgr2.0", "bench", "-c", "1,4", "-d", "200ms", "-warmup", "50ms", "-cmd", `{"prefix": "mon stat"}`)
	if code != 0 || strings.Count(out, "gomsgr epoll msgr2.0") != 2 {
		t.Errorf("bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
