package cephtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// packages are the Debian packages that provide the binaries this package
// runs.
var packages = []string{"ceph-mon", "ceph-common", "ceph-osd"}

// InstallCommand is the shell command that installs the Debian packages
// ceph-mon, ceph-common and ceph-osd, as Install runs
// it (as root) and as its error message tells a non-root user to run it.
const InstallCommand = "apt-get update && apt-get install -y ceph-mon ceph-common ceph-osd"

// installTimeout bounds apt-get update plus apt-get install (about 20 s on a
// warm mirror).
const installTimeout = 10 * time.Minute

// binaries holds the absolute paths of the programs a Mon runs.
type binaries struct {
	mon        string // ceph-mon
	monmaptool string // monmaptool
	ceph       string // ceph (the CLI)
	authtool   string // ceph-authtool
	osd        string // ceph-osd
}

// fallbackDirs are searched after $PATH: test environments often run with a
// trimmed PATH, and Debian puts the binaries in /usr/bin.
var fallbackDirs = []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"}

var (
	installOnce sync.Once
	installBins binaries
	installErr  error
)

// Install makes sure ceph-mon, monmaptool, ceph, ceph-authtool and ceph-osd are installed. When one
// is missing and the process runs as root, it installs the Debian
// packages ceph-mon, ceph-common and ceph-osd with apt-get; when it is not root, it returns an error that says how to install
// them. The work runs once per process (later calls return the first
// result), and the apt-get run holds a flock on a lock file in os.TempDir()
// so that parallel test binaries do not run apt-get concurrently. A TestMain
// may call it to fail early:
//
//	func TestMain(m *testing.M) {
//		if err := cephtest.Install(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		os.Exit(m.Run())
//	}
func Install() error {
	_, err := ensureInstalled()
	return err
}

// Ensure calls Install and fails tb (tb.Fatalf, never a skip) if the
// binaries are missing and cannot be installed.
func Ensure(tb testing.TB) {
	tb.Helper()
	if err := Install(); err != nil {
		tb.Fatalf("%v", err)
	}
}

func ensureInstalled() (binaries, error) {
	installOnce.Do(func() {
		installBins, installErr = install(os.Getenv("PATH"), fallbackDirs, os.Geteuid() == 0, aptInstall)
	})
	return installBins, installErr
}

// install finds the binaries in pathEnv and extra; if some are missing it
// runs doInstall (only when root) and looks again.
func install(pathEnv string, extra []string, root bool, doInstall func() error) (binaries, error) {
	bins, missing := findBinaries(pathEnv, extra)
	if len(missing) == 0 {
		return bins, nil
	}
	if !root {
		return binaries{}, fmt.Errorf("cephtest: %s not found (looked in $PATH and %s); "+
			"the tests that start a real ceph-mon need the Debian packages %s (Ceph 16.2 pacific). "+
			"Install them as root with:\n\tsudo sh -c '%s'\n"+
			"or run the tests as root and they will install them",
			strings.Join(missing, ", "), strings.Join(extra, ", "), strings.Join(packages, " and "), InstallCommand)
	}
	unlock, err := lockInstall()
	if err != nil {
		return binaries{}, err
	}
	defer unlock()
	// Another process may have installed them while we waited for the lock.
	if bins, missing = findBinaries(pathEnv, extra); len(missing) == 0 {
		return bins, nil
	}
	if err := doInstall(); err != nil {
		return binaries{}, err
	}
	if bins, missing = findBinaries(pathEnv, extra); len(missing) != 0 {
		return binaries{}, fmt.Errorf("cephtest: %s still not found after installing %s",
			strings.Join(missing, ", "), strings.Join(packages, " "))
	}
	return bins, nil
}

// findBinaries resolves ceph-mon, monmaptool, ceph, ceph-authtool and ceph-osd; missing lists the
// names it did not find.
func findBinaries(pathEnv string, extra []string) (b binaries, missing []string) {
	for _, x := range []struct {
		name string
		dst  *string
	}{{"ceph-mon", &b.mon}, {"monmaptool", &b.monmaptool}, {"ceph", &b.ceph}, {"ceph-authtool", &b.authtool}, {"ceph-osd", &b.osd}} {
		p := lookPath(x.name, pathEnv, extra)
		if p == "" {
			missing = append(missing, x.name)
		}
		*x.dst = p
	}
	return b, missing
}

// lookPath returns the absolute path of an executable regular file name in
// the directories of pathEnv, then extra, or "".
func lookPath(name, pathEnv string, extra []string) string {
	dirs := append(filepath.SplitList(pathEnv), extra...)
	for _, dir := range dirs {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // relative PATH entries are a trap; the binaries live in absolute dirs
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// lockInstall takes an exclusive flock on a lock file in os.TempDir(),
// waiting for any other process that holds it.
func lockInstall() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "gomsgr-cephtest-install.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("cephtest: install lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		return nil, errors.Join(fmt.Errorf("cephtest: install lock %s: %w", path, err), f.Close())
	}
	return func() {
		// Closing the file's only descriptor releases the lock too, and
		// the lock file holds no data: neither error leaves anything to do.
		_ = unlockFile(f)
		_ = f.Close()
	}, nil
}

// aptInstall runs InstallCommand's two steps.
func aptInstall() error {
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	fmt.Fprintf(os.Stderr, "cephtest: installing %s (%s)\n", strings.Join(packages, " "), InstallCommand)
	steps := [][]string{
		{"apt-get", "update"},
		append([]string{"apt-get", "install", "-y"}, packages...),
	}
	for _, argv := range steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.WaitDelay = 10 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("cephtest: %s: %v\n%s", strings.Join(argv, " "), err, tail(out.String(), 30))
		}
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
