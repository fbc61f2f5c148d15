package monc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/msgr2"
)

// maxConfBytes bounds what ReadConf reads.
const maxConfBytes = 1 << 20

// Conf is what a client needs from a ceph.conf: where the monitors are,
// the cluster's fsid and where the keyring is.
type Conf struct {
	// MonHost is mon_host as written ("[v2:127.0.0.1:3300,v1:...]" or a
	// list of addresses).
	MonHost string
	// FSID is the cluster fsid (fsid), zero when absent.
	FSID msgr2.UUID
	// Keyring is the keyring option, unexpanded ("" when absent).
	Keyring string
}

// ReadConf reads the settings of a ceph.conf that apply to the entity
// name ("client.admin"): [global], then [client] (for a client), then
// [name], later sections overriding earlier ones, as Ceph's ConfFile
// does. Option names match with spaces, dashes and underscores equal.
func ReadConf(path, name string) (Conf, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Conf{}, fmt.Errorf("monc: %w", err)
	}
	if len(b) > maxConfBytes {
		return Conf{}, fmt.Errorf("monc: %s is larger than %d bytes", path, maxConfBytes)
	}
	typ, _, _ := strings.Cut(name, ".")
	sections := map[string]int{"global": 1, typ: 2, name: 3}
	vals := map[string]string{}
	prio := map[string]int{}
	cur := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = sections[strings.TrimSpace(line[1:len(line)-1])]
		case cur > 0:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = confKey(k)
			if cur >= prio[k] {
				vals[k], prio[k] = strings.TrimSpace(v), cur
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Conf{}, fmt.Errorf("monc: %s: %w", path, err)
	}
	c := Conf{MonHost: vals["mon_host"], Keyring: vals["keyring"]}
	if s := vals["fsid"]; s != "" {
		if c.FSID, err = msgr2.ParseUUID(s); err != nil {
			return Conf{}, fmt.Errorf("monc: %s: fsid: %w", path, err)
		}
	}
	return c, nil
}

func confKey(k string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(k)))
}

// MonAddr returns the first msgr2 address in mon_host: a "v2:" entry, or
// a bare address with port 3300 (a bare address without a port means
// both 3300 and 6789 in Ceph; only msgr2 is spoken here).
func (c Conf) MonAddr() (netip.AddrPort, error) {
	s := strings.NewReplacer("[", " ", "]", " ", ",", " ", ";", " ").Replace(c.MonHost)
	for _, f := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(f, "v1:"):
			continue
		case strings.HasPrefix(f, "v2:"):
			f = f[3:]
		}
		f, _, _ = strings.Cut(f, "/")
		if ap, err := netip.ParseAddrPort(f); err == nil {
			return ap, nil
		}
		if a, err := netip.ParseAddr(f); err == nil {
			return netip.AddrPortFrom(a, 3300), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("monc: no msgr2 address in mon_host %q", c.MonHost)
}

// ErrNoKeyring means none of the keyring files FindKey tried exists.
var ErrNoKeyring = errors.New("monc: no keyring")

// FindKey returns name's key from the first keyring that exists among
// Ceph's paths for it (cephx.KeyringPaths of explicit, the keyring
// option or a path).
func FindKey(explicit, name string) (cephx.Key, string, error) {
	var tried []string
	for _, p := range cephx.KeyringPaths(explicit, "ceph", name) {
		ring, err := cephx.LoadKeyring(p)
		if errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, p)
			continue
		}
		if err != nil {
			return cephx.Key{}, p, fmt.Errorf("monc: %w", err)
		}
		e, err := ring.Lookup(name)
		if err != nil {
			return cephx.Key{}, p, fmt.Errorf("monc: %s: %w", p, err)
		}
		return e.Key, p, nil
	}
	return cephx.Key{}, "", fmt.Errorf("%w for %s (tried %s)", ErrNoKeyring, name, strings.Join(tried, ", "))
}
