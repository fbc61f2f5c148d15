package cephtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a start or restart waits for the mon to
// answer `ceph mon stat`. It usually takes under a second.
const ReadyTimeout = 30 * time.Second

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// CephTimeout bounds a Ceph call whose context has no deadline.
const CephTimeout = 60 * time.Second

// maxAttempts is how often a start picks new ports after the mon failed to
// bind the previous ones.
const maxAttempts = 5

// monID is the name of the one monitor: mon.a.
const monID = "a"

// errBind marks a start that failed because the mon could not bind its
// ports (someone else took them between freePorts and the mon's bind).
var errBind = errors.New("mon could not bind its ports")

// Option changes how a mon is set up.
type Option func(*config)

type config struct {
	conf  [][2]string                    // extra [global] settings, in order
	cephx bool                           // require cephx; keyrings made by ceph-authtool
	ports func() (p2, p1 int, err error) // tests replace it to force a bind clash
}

// Conf sets key = value in the [global] section of the mon's ceph.conf,
// which both the mon and the ceph CLI read. It replaces a default of the
// same name (spaces, dashes and underscores in key are equivalent, as in
// Ceph) or adds a line. Example: Conf("debug_ms", "20") to see every message
// the mon sends and receives in its log.
func Conf(key, value string) Option {
	return func(c *config) { c.conf = append(c.conf, [2]string{key, value}) }
}

// Cephx makes the mon require cephx of everyone (auth_cluster_required,
// auth_service_required and auth_client_required = cephx). Its keyring,
// made with ceph-authtool, holds mon., client.admin (all caps) and
// client.ro (caps mon "allow r": a write command fails with EACCES); the
// ceph.conf names it, so the ceph CLI authenticates as client.admin.
func Cephx() Option {
	return func(c *config) { c.cephx = true }
}

// RestrictedClient is the entity a Cephx mon knows with read-only caps.
const RestrictedClient = "client.ro"

// Mon is one ceph-mon (mon.a) that this process started on 127.0.0.1, with
// its own directory holding ceph.conf, the monmap, the mon's data, its logs,
// its admin socket and its pid file. Its methods are safe for concurrent
// use.
type Mon struct {
	dir    string
	ownDir bool // created by Launch: Close removes it
	bins   binaries
	cfg    config

	fsid   string
	v2, v1 string // host:port

	mu       sync.Mutex
	proc     *monProc // nil while stopped
	attempts int      // starts it took to find bindable ports
}

// monProc is one run of the ceph-mon process.
type monProc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's result; read after done
}

// StartMon starts a throwaway mon in a temporary directory of tb, waits
// until it answers, and registers a cleanup that stops it. It installs the
// Ceph binaries first if needed (see Install) and fails tb, never skips,
// when that or the start fails; the error includes the tail of the mon's
// log. Options adjust the ceph.conf.
func StartMon(tb testing.TB, opts ...Option) *Mon {
	tb.Helper()
	bins, err := ensureInstalled()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	dir := tb.TempDir()
	if len(filepath.Join(dir, "run", "mon."+monID+".asok")) > 100 {
		// A unix socket path must fit in 108 bytes; long test names make
		// long temp dirs.
		dir, err = os.MkdirTemp("", "cephtest-")
		if err != nil {
			tb.Fatalf("cephtest: %v", err)
		}
		tb.Cleanup(func() {
			if err := os.RemoveAll(dir); err != nil {
				tb.Errorf("cephtest: %v", err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxAttempts*ReadyTimeout)
	defer cancel()
	m, err := launchIn(ctx, dir, bins, opts)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if err := m.Stop(); err != nil {
			tb.Logf("%v\nmon log tail:\n%s", err, m.LogTail(20))
		}
	})
	return m
}

// Launch is StartMon for code without a testing.TB (a main package, a
// TestMain): it installs the binaries if needed, starts a mon in a new
// directory under os.TempDir() and waits until it answers. The caller must
// call Close, which stops the mon and removes the directory.
func Launch(ctx context.Context, opts ...Option) (*Mon, error) {
	bins, err := ensureInstalled()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cephtest-")
	if err != nil {
		return nil, fmt.Errorf("cephtest: %w", err)
	}
	m, err := launchIn(ctx, dir, bins, opts)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	m.ownDir = true
	return m, nil
}

func launchIn(ctx context.Context, dir string, bins binaries, opts []Option) (*Mon, error) {
	m := &Mon{dir: dir, bins: bins, cfg: config{ports: freePorts}}
	for _, o := range opts {
		o(&m.cfg)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for attempt := 1; ; attempt++ {
		p2, p1, err := m.cfg.ports()
		if err != nil {
			return nil, err
		}
		m.v2 = net.JoinHostPort("127.0.0.1", strconv.Itoa(p2))
		m.v1 = net.JoinHostPort("127.0.0.1", strconv.Itoa(p1))
		if m.fsid, err = newUUID(); err != nil {
			return nil, err
		}
		if err := m.prepare(ctx); err != nil {
			return nil, err
		}
		err = m.startLocked(ctx)
		if err == nil {
			m.attempts = attempt
			return m, nil
		}
		if !errors.Is(err, errBind) || attempt == maxAttempts || ctx.Err() != nil {
			return nil, err
		}
	}
}

// V2Addr returns the mon's msgr2 address, "127.0.0.1:port".
func (m *Mon) V2Addr() string { return m.v2 }

// V1Addr returns the mon's msgr1 (legacy) address, "127.0.0.1:port".
func (m *Mon) V1Addr() string { return m.v1 }

// AddrVec returns the mon's address vector as Ceph prints it in a mon host
// line: "[v2:127.0.0.1:P2,v1:127.0.0.1:P1]".
func (m *Mon) AddrVec() string { return "[v2:" + m.v2 + ",v1:" + m.v1 + "]" }

// ConfPath returns the path of the ceph.conf for the ceph CLI (ceph -c
// PATH, or CEPH_CONF=PATH) and for any other client.
func (m *Mon) ConfPath() string { return filepath.Join(m.dir, "ceph.conf") }

// FSID returns the cluster's fsid, a random UUID.
func (m *Mon) FSID() string { return m.fsid }

// Dir returns the mon's directory.
func (m *Mon) Dir() string { return m.dir }

// LogPath returns the path of the mon's log file.
func (m *Mon) LogPath() string { return filepath.Join(m.dir, "mon."+monID+".log") }

// PID returns the process id of the running ceph-mon, or 0 when it is
// stopped.
func (m *Mon) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return 0
	}
	return m.proc.pid
}

// LogTail returns the last n lines of the mon's log file and of what it
// wrote to stdout and stderr.
func (m *Mon) LogTail(n int) string {
	var b strings.Builder
	for _, name := range []string{m.LogPath(), m.outPath()} {
		data, err := os.ReadFile(name)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", name, tail(string(data), n))
	}
	return b.String()
}

func (m *Mon) outPath() string { return filepath.Join(m.dir, "mon."+monID+".out") }

// Ceph runs the ceph CLI against this mon (ceph -c ConfPath() args...) and
// returns its stdout. The error includes the CLI's stderr. ctx bounds the
// run and, through --connect-timeout, how long the CLI tries to reach the
// mon; without a deadline CephTimeout applies. A later --connect-timeout in
// args overrides it.
func (m *Mon) Ceph(ctx context.Context, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CephTimeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	secs := int(math.Ceil(time.Until(dl).Seconds()))
	if secs < 1 {
		secs = 1
	}
	argv := append([]string{"-c", m.ConfPath(), "--connect-timeout", strconv.Itoa(secs)}, args...)
	cmd := exec.CommandContext(ctx, m.bins.ceph, argv...)
	cmd.Dir = m.dir
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return stdout.Bytes(), fmt.Errorf("cephtest: ceph %s: %v: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Stop stops the mon: SIGTERM to its PID, then SIGKILL if it has not
// exited after StopTimeout. It returns when the process is gone. The
// directory stays (Restart uses it). Stop on a stopped mon does nothing.
// The error reports a mon that needed SIGKILL or had already exited on its
// own.
func (m *Mon) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil {
		return nil
	}
	m.proc = nil
	return p.stop(StopTimeout)
}

// Kill kills the mon with SIGKILL, as a crash would, and waits until the
// process is gone. The directory stays (Restart uses it). Kill on a stopped
// mon does nothing.
func (m *Mon) Kill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil {
		return nil
	}
	m.proc = nil
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cephtest: kill mon.%s (pid %d): %w", monID, p.pid, err)
	}
	<-p.done
	return nil
}

// Restart stops the mon if it runs (as Stop does) and starts it again on
// the same ports with the same data directory, so the fsid and the monmap
// stay; it waits until the mon answers and fails tb otherwise.
func (m *Mon) Restart(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), maxAttempts*ReadyTimeout)
	defer cancel()
	if err := m.RestartContext(ctx); err != nil {
		tb.Fatalf("%v", err)
	}
}

// RestartContext is Restart for code without a testing.TB.
func (m *Mon) RestartContext(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.proc; p != nil {
		m.proc = nil
		_ = p.stop(StopTimeout) // an error here only says how it stopped
	}
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = m.startLocked(ctx); !errors.Is(err, errBind) {
			return err
		}
		// The ports are fixed now; wait for whoever holds one to let go.
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}

// Close stops the mon and, for a mon from Launch, removes its directory.
func (m *Mon) Close() error {
	err := m.Stop()
	if m.ownDir {
		if rerr := os.RemoveAll(m.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// prepare writes ceph.conf and the monmap and runs ceph-mon --mkfs, from
// scratch: files of an earlier attempt are removed first.
func (m *Mon) prepare(ctx context.Context) error {
	for _, name := range []string{"data", "run", "monmap", "mon." + monID + ".log", "mon." + monID + ".out"} {
		if err := os.RemoveAll(filepath.Join(m.dir, name)); err != nil {
			return fmt.Errorf("cephtest: %w", err)
		}
	}
	for _, name := range []string{"run", "crash"} {
		if err := os.MkdirAll(filepath.Join(m.dir, name), 0o755); err != nil {
			return fmt.Errorf("cephtest: %w", err)
		}
	}
	if err := os.WriteFile(m.ConfPath(), []byte(m.confText()), 0o644); err != nil {
		return fmt.Errorf("cephtest: %w", err)
	}
	var mkfsArgs []string
	if m.cfg.cephx {
		if err := m.makeKeyring(ctx); err != nil {
			return err
		}
		mkfsArgs = []string{"--keyring", m.KeyringPath()}
	}
	monmap := filepath.Join(m.dir, "monmap")
	if err := m.run(ctx, m.bins.monmaptool, "--create", "--clobber", "--fsid", m.fsid,
		"--addv", monID, m.AddrVec(), monmap); err != nil {
		return err
	}
	return m.run(ctx, m.bins.mon, append([]string{"-c", m.ConfPath(), "--mkfs", "-i", monID, "--monmap", monmap}, mkfsArgs...)...)
}

// KeyringPath returns the keyring of a Cephx mon: mon., client.admin and
// RestrictedClient.
func (m *Mon) KeyringPath() string { return filepath.Join(m.dir, "ceph.keyring") }

// makeKeyring creates the keyring with ceph-authtool, as Ceph's manual
// deployment does.
func (m *Mon) makeKeyring(ctx context.Context) error {
	kr := m.KeyringPath()
	for _, args := range [][]string{
		{"--create-keyring", kr, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"},
		{kr, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
			"--cap", "mds", "allow *", "--cap", "mgr", "allow *"},
		{kr, "--gen-key", "-n", RestrictedClient, "--cap", "mon", "allow r"},
	} {
		if err := m.run(ctx, m.bins.authtool, args...); err != nil {
			return err
		}
	}
	return nil
}

// confText returns the ceph.conf.
func (m *Mon) confText() string {
	d := m.dir
	global := [][2]string{
		{"fsid", m.fsid},
		{"mon host", m.AddrVec()},
		{"auth cluster required", m.authMethod()},
		{"auth service required", m.authMethod()},
		{"auth client required", m.authMethod()},
		{"ms_mode", "crc"},
		{"ms_client_mode", "crc"},
		{"ms_service_mode", "crc"},
		{"ms_cluster_mode", "crc"},
		{"ms_mon_client_mode", "crc"},
		{"ms_mon_service_mode", "crc"},
		{"ms_mon_cluster_mode", "crc"},
		{"run dir", filepath.Join(d, "run")},
		{"log file", filepath.Join(d, "$name.log")},
		{"crash dir", filepath.Join(d, "crash")},
		// The default cluster log goes to /var/log/ceph.
		{"mon cluster log file", "default=" + filepath.Join(d, "$cluster.$channel.log") +
			" cluster=" + filepath.Join(d, "$cluster.log")},
		{"mon allow pool delete", "true"},
		// A full disk must not stop a throwaway mon (it shuts down below
		// mon_data_avail_crit percent free).
		{"mon data avail crit", "0"},
		{"mon data avail warn", "0"},
		// Fail fast on a port clash (the default retries 3 times 5 s apart);
		// StartMon then picks other ports.
		{"ms bind retry count", "1"},
		{"ms bind retry delay", "1"},
	}
	if m.cfg.cephx {
		global = append(global, [2]string{"keyring", m.KeyringPath()})
	}
	for _, kv := range m.cfg.conf {
		found := false
		for i := range global {
			if confKey(global[i][0]) == confKey(kv[0]) {
				global[i][1], found = kv[1], true
			}
		}
		if !found {
			global = append(global, kv)
		}
	}
	var b strings.Builder
	b.WriteString("# written by github.com/gomsgr/gomsgr/internal/cephtest\n[global]\n")
	for _, kv := range global {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
	}
	// Per-daemon paths only for the mon: CLI runs must not share its admin
	// socket or pid file.
	fmt.Fprintf(&b, "\n[mon]\nmon data = %s\nadmin socket = %s\npid file = %s\n",
		filepath.Join(d, "data"), filepath.Join(d, "run", "$name.asok"), filepath.Join(d, "run", "$name.pid"))
	return b.String()
}

func (m *Mon) authMethod() string {
	if m.cfg.cephx {
		return "cephx"
	}
	return "none"
}

// confKey normalizes a Ceph option name: spaces, dashes and underscores are
// the same.
func confKey(k string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(k)))
}

// run runs a set-up command and returns an error with its output.
func (m *Mon) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = m.dir
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cephtest: %s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 20))
	}
	return nil
}

// startLocked starts the ceph-mon process and waits until it answers. On
// failure no process remains. m.mu is held.
func (m *Mon) startLocked(ctx context.Context) error {
	p, err := m.spawn()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	if err := m.waitReady(rctx, p); err != nil {
		_ = p.cmd.Process.Kill() // fails only if it exited already: done is closed either way
		<-p.done
		log := m.LogTail(30)
		if strings.Contains(log, "unable to bind") || strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %w", errBind, err)
		}
		return fmt.Errorf("cephtest: start mon.%s on %s: %w\nmon log tail:\n%s", monID, m.AddrVec(), err, log)
	}
	m.proc = p
	return nil
}

// spawn starts ceph-mon in the foreground (-f), in its own process group.
// The goroutine that starts it keeps its OS thread locked and waits for the
// process: the mon gets SIGKILL (Pdeathsig) if that thread ends, which then
// happens only when this whole process dies, so a crashed or killed test
// binary leaves no mon behind.
func (m *Mon) spawn() (*monProc, error) {
	return spawnProc(m.bins.mon, m.dir, m.outPath(), "-c", m.ConfPath(), "-i", monID, "-f")
}

// spawnProc starts a Ceph daemon (bin with args, in the foreground) in dir,
// its stdout and stderr appended to outPath, as spawn describes.
func spawnProc(bin, dir, outPath string, args ...string) (*monProc, error) {
	attr, err := monProcAttr()
	if err != nil {
		return nil, fmt.Errorf("cephtest: start %s: %w", bin, err)
	}
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cephtest: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = attr
	p := &monProc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		_ = out.Close() // the child has its own copy; nothing was written through ours
		if err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("cephtest: start %s: %w", bin, err)
	}
	return p, nil
}

// waitReady polls until the mon answers `ceph mon stat`: first until its v2
// port accepts a TCP connection (cheap), then with the CLI.
func (m *Mon) waitReady(ctx context.Context, p *monProc) error {
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("ceph-mon exited: %v", p.err)
		default:
		}
		var d net.Dialer
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp4", m.v2)
		dcancel()
		if err != nil {
			lastErr = err
		} else {
			_ = c.Close() // a probe: connecting was all it had to do
			if lastErr = m.cephUnlessExited(ctx, p, "mon", "stat"); lastErr == nil {
				return nil
			}
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-p.done:
			t.Stop()
			return fmt.Errorf("ceph-mon exited: %v", p.err)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not ready after %v: %v", ReadyTimeout, lastErr)
		case <-t.C:
		}
	}
}

// cephUnlessExited runs the CLI and cancels it if the mon exits meanwhile.
func (m *Mon) cephUnlessExited(ctx context.Context, p *monProc, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := m.Ceph(ctx, args...)
	cancel()
	<-watched
	return err
}

// stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p *monProc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("cephtest: mon.%s (pid %d) had exited on its own: %v", monID, p.pid, p.err)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill() // as below: done tells when it is gone
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill() // fails only if it exited meanwhile: done is closed either way
		<-p.done
		return fmt.Errorf("cephtest: mon.%s (pid %d) did not exit within %v of SIGTERM; killed it", monID, p.pid, grace)
	}
}

// cleanEnv is the environment for Ceph programs without the variables that
// would point them at another cluster or add arguments.
func cleanEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CEPH_ARGS", "CEPH_CONF", "CEPH_KEYRING":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cephtest: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
