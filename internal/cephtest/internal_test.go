package cephtest

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestInstallNotRoot(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	called := false
	_, err := install(empty, nil, false, func() error { called = true; return nil })
	if err == nil {
		t.Fatal("install with no binaries and not root: no error")
	}
	if called {
		t.Error("install ran apt-get as non-root")
	}
	for _, want := range []string{"ceph-mon, monmaptool, ceph, ceph-authtool, ceph-osd not found", InstallCommand} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestInstallRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	calls := 0
	fake := func() error {
		calls++
		for _, name := range []string{"ceph-mon", "monmaptool", "ceph", "ceph-authtool", "ceph-osd"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				return err
			}
		}
		return nil
	}
	bins, err := install(dir, nil, true, fake)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || bins.mon != filepath.Join(dir, "ceph-mon") || bins.ceph != filepath.Join(dir, "ceph") {
		t.Errorf("calls %d, bins %+v", calls, bins)
	}
	// Present: no install.
	if _, err := install(dir, nil, true, fake); err != nil || calls != 1 {
		t.Errorf("second install: err %v, calls %d", err, calls)
	}
	// An install that does not produce them is an error.
	if _, err := install(t.TempDir(), nil, true, func() error { return nil }); err == nil {
		t.Error("install that installs nothing: no error")
	}
	if _, err := install(t.TempDir(), nil, true, func() error { return errors.New("apt broke") }); err == nil || !strings.Contains(err.Error(), "apt broke") {
		t.Errorf("failing install: %v", err)
	}
}

func TestInstallLock(t *testing.T) {
	t.Parallel()
	unlock, err := lockInstall()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err) // off Linux
	}
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u2, err := lockInstall() // a second open file description: flock blocks
		if err == nil {
			u2()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Error("second lockInstall did not wait for the first")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	<-got
}

// TestBindClash makes the first pick of ports collide with a listener: the
// mon fails to bind and StartMon picks other ports.
func TestBindClash(t *testing.T) {
	t.Parallel()
	bins, err := ensureInstalled()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pick := func(c *config) {
		c.ports = func() (int, int, error) {
			calls++
			p2, p1, err := freePorts()
			if calls == 1 {
				p1 = taken
			}
			return p2, p1, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	m, err := launchIn(ctx, t.TempDir(), bins, []Option{pick})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	t.Logf("started after a clash in %v", time.Since(start))
	if m.attempts != 2 || calls != 2 {
		t.Errorf("attempts %d, port picks %d; want 2", m.attempts, calls)
	}
	if strings.HasSuffix(m.V1Addr(), ":"+strconv.Itoa(taken)) {
		t.Errorf("mon on the taken port %d", taken)
	}
	if _, err := m.Ceph(ctx, "mon", "stat"); err != nil {
		t.Error(err)
	}
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 20 {
		p2, p1, err := freePorts()
		if err != nil {
			t.Fatal(err)
		}
		if p2 == p1 || seen[p2] || seen[p1] {
			t.Fatalf("ports %d %d repeat", p2, p1)
		}
		seen[p2], seen[p1] = true, true
	}
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	u, err := newUUID()
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 36 || u[14] != '4' || strings.Count(u, "-") != 4 {
		t.Errorf("uuid %q", u)
	}
}
