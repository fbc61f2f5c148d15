package cephtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OSD is one ceph-osd that StartOSD started beside a Cephx mon, on a
// memstore (its objects live in its memory): enough of an OSD for clients
// to authenticate to with the mon's tickets and send commands to.
type OSD struct {
	// ID is the osd id ("osd.<ID>").
	ID int
	// V2Addr is the OSD's public msgr2 address (host:port) and Nonce its
	// address nonce, as the osdmap shows them: a client's CLIENT_IDENT
	// names both.
	V2Addr string
	Nonce  uint32
}

// osdReadyTimeout bounds StartOSD's wait for the OSD to be up in the
// osdmap (it takes about a second).
const osdReadyTimeout = 60 * time.Second

// StartOSD creates an OSD in the mon's cluster (ceph osd new, a cephx key
// with the OSD profile caps), runs ceph-osd --mkfs on a memstore and then
// ceph-osd in the foreground, and waits until the osdmap shows it up with
// a msgr2 address. The mon must use Cephx. The test's cleanup stops the
// OSD (SIGTERM, then SIGKILL) before the mon stops.
func StartOSD(tb testing.TB, mon *Mon) *OSD {
	tb.Helper()
	if !mon.cfg.cephx {
		tb.Fatal("cephtest: StartOSD needs a mon started with Cephx()")
	}
	ctx, cancel := context.WithTimeout(context.Background(), osdReadyTimeout)
	defer cancel()
	osd, p, err := mon.startOSD(ctx)
	if p != nil {
		tb.Cleanup(func() { _ = p.stop(StopTimeout) })
	}
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return osd
}

func (m *Mon) startOSD(ctx context.Context) (*OSD, *monProc, error) {
	uuid, err := newUUID()
	if err != nil {
		return nil, nil, err
	}
	out, err := m.Ceph(ctx, "osd", "new", uuid)
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, nil, fmt.Errorf("cephtest: ceph osd new: %q: %w", out, err)
	}
	name := "osd." + strconv.Itoa(id)
	dir := filepath.Join(m.dir, name)
	keyring := filepath.Join(m.dir, name+".keyring")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("cephtest: %w", err)
	}
	if _, err := m.Ceph(ctx, "auth", "get-or-create", name, "mon", "allow profile osd",
		"osd", "allow *", "mgr", "allow profile osd", "-o", keyring); err != nil {
		return nil, nil, err
	}
	common := []string{"-c", m.ConfPath(), "-i", strconv.Itoa(id), "--osd-objectstore", "memstore",
		"--osd-data", dir, "--keyring", keyring, "--public-addr", "127.0.0.1",
		"--admin-socket", filepath.Join(m.dir, "run", name+".asok"),
		"--pid-file", filepath.Join(m.dir, "run", name+".pid")}
	mkfs := exec.CommandContext(ctx, m.bins.osd, append(common, "--mkfs", "--osd-uuid", uuid)...)
	mkfs.Dir, mkfs.Env = m.dir, cleanEnv()
	if b, err := mkfs.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("cephtest: ceph-osd --mkfs: %v\n%s", err, tail(string(b), 20))
	}
	p, err := spawnProc(m.bins.osd, m.dir, filepath.Join(m.dir, name+".out"), append(common, "-f")...)
	if err != nil {
		return nil, nil, err
	}
	osd, err := m.waitOSD(ctx, p, id)
	if err != nil {
		return nil, p, fmt.Errorf("cephtest: start %s: %w\nlog tail:\n%s", name, err,
			tailFile(filepath.Join(m.dir, name+".log"), 30))
	}
	return osd, p, nil
}

// waitOSD polls the osdmap until osd id is up with a msgr2 address.
func (m *Mon) waitOSD(ctx context.Context, p *monProc, id int) (*OSD, error) {
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("ceph-osd exited: %v", p.err)
		case <-ctx.Done():
			return nil, fmt.Errorf("not up in the osdmap: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		out, err := m.Ceph(ctx, "osd", "dump", "--format", "json")
		if err != nil {
			continue
		}
		if osd, ok := upOSD(out, id); ok {
			return osd, nil
		}
	}
}

// upOSD finds osd id, up, with a v2 public address in an osd dump.
func upOSD(dump []byte, id int) (*OSD, bool) {
	var d struct {
		OSDs []struct {
			OSD         int `json:"osd"`
			Up          int `json:"up"`
			PublicAddrs struct {
				AddrVec []struct {
					Type  string `json:"type"`
					Addr  string `json:"addr"`
					Nonce uint32 `json:"nonce"`
				} `json:"addrvec"`
			} `json:"public_addrs"`
		} `json:"osds"`
	}
	if json.Unmarshal(dump, &d) != nil {
		return nil, false
	}
	for _, o := range d.OSDs {
		if o.OSD != id || o.Up != 1 {
			continue
		}
		for _, a := range o.PublicAddrs.AddrVec {
			if a.Type == "v2" {
				return &OSD{ID: id, V2Addr: a.Addr, Nonce: a.Nonce}, true
			}
		}
	}
	return nil, false
}

// tailFile returns the last n lines of a file, or why it could not.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), n)
}
