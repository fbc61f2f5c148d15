package cephtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gomsgr/gomsgr/internal/cephtest"
)

func TestMain(m *testing.M) {
	// What other packages' TestMain can do: install (as root) or fail early
	// with instructions.
	if err := cephtest.Install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

type monDump struct {
	FSID string `json:"fsid"`
	Mons []struct {
		Name        string `json:"name"`
		PublicAddrs struct {
			AddrVec []struct {
				Type string `json:"type"`
				Addr string `json:"addr"`
			} `json:"addrvec"`
		} `json:"public_addrs"`
	} `json:"mons"`
	Quorum []int `json:"quorum"`
}

func dump(t *testing.T, mon *cephtest.Mon) monDump {
	t.Helper()
	out, err := mon.Ceph(ctx(t), "mon", "dump", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var d monDump
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("mon dump: %v\n%s", err, out)
	}
	return d
}

// checkDump verifies that mon dump shows exactly our one mon on our ports.
func checkDump(t *testing.T, mon *cephtest.Mon) {
	t.Helper()
	d := dump(t, mon)
	if d.FSID != mon.FSID() {
		t.Errorf("mon dump fsid %q, want %q", d.FSID, mon.FSID())
	}
	if len(d.Mons) != 1 || len(d.Quorum) != 1 {
		t.Fatalf("mon dump: %d mons, quorum %v; want one mon in quorum", len(d.Mons), d.Quorum)
	}
	got := map[string]string{}
	for _, a := range d.Mons[0].PublicAddrs.AddrVec {
		got[a.Type] = a.Addr
	}
	if got["v2"] != mon.V2Addr() || got["v1"] != mon.V1Addr() {
		t.Errorf("mon dump addrs %v, want v2 %s v1 %s", got, mon.V2Addr(), mon.V1Addr())
	}
	if d.Mons[0].Name != "a" {
		t.Errorf("mon name %q, want a", d.Mons[0].Name)
	}
}

func TestStartMon(t *testing.T) {
	t.Parallel()
	mon := cephtest.StartMon(t)
	for _, a := range []string{mon.V2Addr(), mon.V1Addr()} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("address %q is not on 127.0.0.1", a)
		}
	}
	if mon.V2Addr() == mon.V1Addr() {
		t.Errorf("v2 and v1 share %s", mon.V2Addr())
	}
	out, err := mon.Ceph(ctx(t), "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "ceph version ") {
		t.Errorf("ceph version: %q", out)
	}
	out, err = mon.Ceph(ctx(t), "mon", "stat")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "v2:"+mon.V2Addr()) || !strings.Contains(string(out), "quorum 0 a") {
		t.Errorf("mon stat: %q, want v2:%s and quorum 0 a", out, mon.V2Addr())
	}
	checkDump(t, mon)

	conf, err := os.ReadFile(mon.ConfPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"fsid = " + mon.FSID(), "mon host = " + mon.AddrVec(), "auth client required = none", "ms_mon_client_mode = crc"} {
		if !strings.Contains(string(conf), line+"\n") {
			t.Errorf("ceph.conf lacks %q:\n%s", line, conf)
		}
	}
	// Errors carry the CLI's stderr.
	if _, err := mon.Ceph(ctx(t), "no-such-command"); err == nil || !strings.Contains(err.Error(), "no-such-command") {
		t.Errorf("bad command: err = %v", err)
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	mon := cephtest.StartMon(t)
	pid, v2, fsid := mon.PID(), mon.V2Addr(), mon.FSID()
	if err := mon.Kill(); err != nil {
		t.Fatal(err)
	}
	if mon.PID() != 0 {
		t.Errorf("PID after Kill = %d, want 0", mon.PID())
	}
	checkGone(t, pid, mon)
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := mon.Ceph(c, "mon", "stat"); err == nil {
		t.Fatal("mon stat answered after Kill")
	}

	mon.Restart(t)
	if mon.PID() == 0 || mon.PID() == pid {
		t.Errorf("PID after Restart = %d (was %d)", mon.PID(), pid)
	}
	if mon.V2Addr() != v2 || mon.FSID() != fsid {
		t.Errorf("after Restart: %s %s, want %s %s", mon.V2Addr(), mon.FSID(), v2, fsid)
	}
	checkDump(t, mon)

	// Restart of a running mon stops it first.
	pid = mon.PID()
	mon.Restart(t)
	checkGone(t, pid, mon)
	checkDump(t, mon)
}

func TestParallelMons(t *testing.T) {
	t.Parallel()
	var (
		wg   sync.WaitGroup
		mons [2]*cephtest.Mon
		errs [2]error
	)
	for i := range mons {
		wg.Go(func() { mons[i], errs[i] = cephtest.Launch(ctx(t)) })
	}
	wg.Wait()
	for i, m := range mons {
		if m != nil {
			t.Cleanup(func() {
				if err := m.Close(); err != nil {
					t.Error(err)
				}
				if _, err := os.Stat(m.Dir()); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Close left %s: %v", m.Dir(), err)
				}
			})
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	ports := map[string]bool{}
	for _, m := range mons {
		ports[m.V2Addr()] = true
		ports[m.V1Addr()] = true
	}
	if len(ports) != 4 {
		t.Errorf("two mons share ports: %s %s / %s %s", mons[0].V2Addr(), mons[0].V1Addr(), mons[1].V2Addr(), mons[1].V1Addr())
	}
	if mons[0].FSID() == mons[1].FSID() || mons[0].Dir() == mons[1].Dir() {
		t.Errorf("two mons share fsid or dir")
	}
	for _, m := range mons {
		checkDump(t, m)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	mon := cephtest.StartMon(t)
	pid := mon.PID()
	if pid <= 0 {
		t.Fatalf("PID = %d", pid)
	}
	if err := mon.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, pid, mon)
	for _, a := range []string{mon.V2Addr(), mon.V1Addr()} {
		l, err := net.Listen("tcp4", a)
		if err != nil {
			t.Errorf("port of stopped mon still taken: %v", err)
			continue
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := mon.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := mon.Kill(); err != nil {
		t.Errorf("Kill after Stop: %v", err)
	}
}

func TestConfOption(t *testing.T) {
	t.Parallel()
	mon := cephtest.StartMon(t, cephtest.Conf("mon-allow-pool-delete", "false"), cephtest.Conf("debug_ms", "1"))
	conf, err := os.ReadFile(mon.ConfPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "mon allow pool delete = false\n") || !strings.Contains(string(conf), "debug_ms = 1\n") ||
		strings.Contains(string(conf), "mon allow pool delete = true") {
		t.Errorf("ceph.conf:\n%s", conf)
	}
	out, err := mon.Ceph(ctx(t), "daemon", "mon.a", "config", "get", "mon_allow_pool_delete")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"false"`) {
		t.Errorf("mon_allow_pool_delete: %s", out)
	}
}

// checkGone verifies that no process pid runs ceph-mon with our conf any
// more (a new process may have reused the pid).
func checkGone(t *testing.T, pid int, mon *cephtest.Mon) {
	t.Helper()
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return
	}
	if strings.Contains(string(cmdline), mon.ConfPath()) {
		t.Errorf("ceph-mon pid %d still there: %q", pid, cmdline)
	}
}

// TestNoMonLeftAfterCrash runs this test binary again as a helper that starts
// a mon and is then killed with SIGKILL, so no cleanup runs: the mon must
// die with it (Pdeathsig) rather than linger.
func TestNoMonLeftAfterCrash(t *testing.T) {
	if os.Getenv("CEPHTEST_CRASH_HELPER") == "1" {
		mon := cephtest.StartMon(t)
		fmt.Printf("pid=%d dir=%s conf=%s\n", mon.PID(), mon.Dir(), mon.ConfPath())
		time.Sleep(time.Minute) // until killed
		return
	}
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoMonLeftAfterCrash$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "CEPHTEST_CRASH_HELPER=1")
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(errors.Join(err, w.Close()))
	}
	if err := w.Close(); err != nil { // the helper's copy is the only writer left
		t.Fatal(err)
	}
	defer func() {
		// A safety net for a failure before the kill below: the helper
		// may be gone already, and its exit status is "killed" anyway.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if err := r.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir, conf string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "pid=%d dir=%s conf=%s", &pid, &dir, &conf); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatalf("helper printed no pid: %v\n%s", sc.Err(), stderr.String())
	}
	defer func() {
		// The killed helper could not remove its temp dir.
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
		if parent := filepath.Dir(dir); strings.HasPrefix(filepath.Base(parent), "TestNoMonLeftAfterCrash") {
			if err := os.RemoveAll(parent); err != nil {
				t.Error(err)
			}
		}
	}()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("mon pid %d not running in the helper: %v", pid, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill the helper: %v", err)
	}
	_ = cmd.Wait() // reaps it; the status is "signal: killed"
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Gone, or a zombie (cmdline empty) waiting for init to reap it.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), conf) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // ours: do not leave it (the test fails either way)
			t.Fatalf("mon pid %d still runs 10 s after its test binary was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
