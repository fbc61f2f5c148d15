package cephx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Entry is one keyring section: an entity's key and its capabilities.
type Entry struct {
	Key Key
	// Caps maps a service ("mon", "osd", ...) to its capability string,
	// unquoted.
	Caps map[string]string
}

// Keyring is a parsed Ceph keyring, keyed by entity name
// ("client.admin").
type Keyring map[string]Entry

// maxKeyringBytes bounds what LoadKeyring reads.
const maxKeyringBytes = 1 << 20

// Lookup returns the entry for an entity name, or an error wrapping
// ErrNoEntity.
func (k Keyring) Lookup(name string) (Entry, error) {
	e, ok := k[name]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %q", ErrNoEntity, name)
	}
	return e, nil
}

// ParseKeyring parses Ceph's INI-like plain keyring format, as KeyRing::
// decode_plaintext reads it through ConfFile: "[entity]" section headers,
// "name = value" lines (spaces and tabs around them ignored), comments
// starting with '#' or ';', and "caps <service> = value" lines whose value
// may be double-quoted. A section without a key is an error.
func ParseKeyring(b []byte) (Keyring, error) {
	ring := Keyring{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxKeyringBytes)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: keyring line %d: unterminated section", ErrDecode, line)
			}
			section = strings.TrimSpace(s[1:end])
			ring[section] = Entry{Caps: map[string]string{}}
			continue
		}
		if err := ring.setField(section, s); err != nil {
			return nil, fmt.Errorf("%w: keyring line %d: %w", ErrDecode, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: keyring: %w", ErrDecode, err)
	}
	for name, e := range ring {
		if e.Key == (Key{}) {
			return nil, fmt.Errorf("%w: keyring: %q has no key", ErrDecode, name)
		}
	}
	return ring, nil
}

func (k Keyring) setField(section, s string) error {
	if section == "" {
		return fmt.Errorf("%q outside a section", s)
	}
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("no '=' in %q", s)
	}
	name = strings.Join(strings.Fields(name), " ")
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	e := k[section]
	switch {
	case name == "key":
		key, err := ParseKey(value)
		if err != nil {
			return err
		}
		e.Key = key
	case strings.HasPrefix(name, "caps "):
		e.Caps[strings.TrimPrefix(name, "caps ")] = value
	}
	k[section] = e
	return nil
}

// LoadKeyring reads and parses the keyring file at path. Binary
// keyrings (keyring.bin) are not supported.
func LoadKeyring(path string) (Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(ioLimit(f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("cephx: %s: %w", path, err)
	}
	if buf.Len() > maxKeyringBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrDecode, path, maxKeyringBytes)
	}
	ring, err := ParseKeyring(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ring, nil
}

// KeyringPaths returns the files Ceph tries, in order, for an entity's
// keyring: explicit (the keyring option) when not empty, else the
// default of the keyring option with $cluster and $name expanded:
// /etc/ceph/$cluster.$name.keyring, /etc/ceph/$cluster.keyring,
// /etc/ceph/keyring, /etc/ceph/keyring.bin (the option's default in
// Ceph's options table; FreeBSD builds append the same four names under
// /usr/local/etc/ceph, which this function leaves out). An explicit value
// may be a comma-separated list, as in Ceph. Ceph's mds and osd daemons
// change the default; this is the client's list.
func KeyringPaths(explicit, cluster, name string) []string {
	if cluster == "" {
		cluster = "ceph"
	}
	spec := explicit
	if spec == "" {
		spec = "/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,/etc/ceph/keyring,/etc/ceph/keyring.bin"
	}
	r := strings.NewReplacer("$cluster", cluster, "$name", name)
	var out []string
	for p := range strings.SplitSeq(spec, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, r.Replace(p))
		}
	}
	return out
}

func ioLimit(f *os.File) *io.LimitedReader { return &io.LimitedReader{R: f, N: maxKeyringBytes + 1} }
