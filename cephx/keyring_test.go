package cephx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gomsgr/gomsgr/internal/cephtest"
)

const sampleKeyring = `# written by hand
[client.admin]
	key = AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==
	caps mds = "allow *"
	caps mon = "allow *"
; another comment
[mon.]
  key=AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==
  caps  mon = allow *
`

func TestParseKey(t *testing.T) {
	k, err := ParseKey("AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==")
	if err != nil {
		t.Fatal(err)
	}
	want := Key{Type: KeyTypeAES, Created: Time{Sec: 0x65646a65}, Secret: testKey.Secret}
	if k != want {
		t.Fatalf("ParseKey = %+v, want %+v", k, want)
	}
	if s := k.String(); s != "AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==" {
		t.Fatalf("String = %s", s)
	}
	for _, bad := range []string{"", "not base64!", "AQBlamRl", "AgBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==",
		"AQBlamRlAAAAAA8AMDEyMzQ1Njc4OWFiY2RlZg=="} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func TestParseKeyring(t *testing.T) {
	ring, err := ParseKeyring([]byte(sampleKeyring))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ring.Lookup("client.admin")
	if err != nil {
		t.Fatal(err)
	}
	if e.Key.Secret != testKey.Secret {
		t.Fatalf("key = %v", e.Key)
	}
	if want := map[string]string{"mds": "allow *", "mon": "allow *"}; !reflect.DeepEqual(e.Caps, want) {
		t.Fatalf("caps = %v, want %v", e.Caps, want)
	}
	if m, err := ring.Lookup("mon."); err != nil || m.Caps["mon"] != "allow *" {
		t.Fatalf("mon. = %+v, %v", m, err)
	}
	if _, err := ring.Lookup("client.nobody"); !errors.Is(err, ErrNoEntity) {
		t.Fatalf("err = %v, want ErrNoEntity", err)
	}
	for name, bad := range map[string]string{
		"no section":   "key = AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==\n",
		"no key":       "[client.x]\ncaps mon = x\n",
		"bad key":      "[client.x]\nkey = AQ\n",
		"unterminated": "[client.x\n",
		"no equals":    "[client.x]\nkey\n",
	} {
		if _, err := ParseKeyring([]byte(bad)); !errors.Is(err, ErrDecode) && !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestKeyringPaths(t *testing.T) {
	got := KeyringPaths("", "", "client.admin")
	want := []string{"/etc/ceph/ceph.client.admin.keyring", "/etc/ceph/ceph.keyring", "/etc/ceph/keyring", "/etc/ceph/keyring.bin"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KeyringPaths = %q, want %q", got, want)
	}
	got = KeyringPaths("/k/$cluster.$name, /other", "c2", "osd.0")
	if want := []string{"/k/c2.osd.0", "/other"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("KeyringPaths = %q, want %q", got, want)
	}
}

func TestLoadKeyring(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(p, []byte(sampleKeyring), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := LoadKeyring(p)
	if err != nil || len(ring) != 2 {
		t.Fatalf("LoadKeyring = %v, %v", ring, err)
	}
	if _, err := LoadKeyring(p + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// TestCephAuthtool reads a keyring written by Ceph's own ceph-authtool.
func TestCephAuthtool(t *testing.T) {
	tool, err := exec.LookPath("ceph-authtool")
	if err != nil {
		if ierr := cephtest.Install(); ierr != nil {
			t.Skipf("ceph-authtool is absent and cannot be installed: %v", ierr)
		}
		if tool, err = exec.LookPath("/usr/bin/ceph-authtool"); err != nil {
			t.Skipf("ceph-authtool is absent after installing ceph-common: %v", err)
		}
	}
	p := filepath.Join(t.TempDir(), "keyring")
	out, err := exec.Command(tool, "--create-keyring", p, "--gen-key", "-n", "client.admin",
		"--cap", "mon", "allow *").CombinedOutput()
	if err != nil {
		t.Fatalf("ceph-authtool: %v\n%s", err, out)
	}
	ring, err := LoadKeyring(p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ring.Lookup("client.admin")
	if err != nil {
		t.Fatal(err)
	}
	if e.Caps["mon"] != "allow *" {
		t.Fatalf("caps = %v", e.Caps)
	}
	printed, err := exec.Command(tool, p, "-n", "client.admin", "--print-key").Output()
	if err != nil {
		t.Fatalf("ceph-authtool --print-key: %v", err)
	}
	if got, want := e.Key.String(), string(trimNL(printed)); got != want {
		t.Fatalf("key = %s, ceph-authtool prints %s", got, want)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
