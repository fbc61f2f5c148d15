package cephx

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/gomsgr/gomsgr/msgr2"
)

// KeyTypeAES is CEPH_CRYPTO_AES, the only key type cephx uses.
const KeyTypeAES uint16 = 1

// SecretBytes is the length of an AES-128 secret.
const SecretBytes = 16

// Key is Ceph's CryptoKey: a typed secret with its creation time. Only
// AES-128 keys (type 1, 16 secret bytes) are accepted. Its encoding is
// 28 bytes: u16 type, utime created {u32 sec, u32 nsec}, u16 length 16,
// the secret.
type Key struct {
	Type    uint16
	Created Time
	Secret  [SecretBytes]byte
}

// Time is Ceph's utime_t as encoded: seconds and nanoseconds, both u32.
type Time struct {
	Sec  uint32
	Nsec uint32
}

// Time converts t to a time.Time in UTC.
func (t Time) Time() time.Time { return time.Unix(int64(t.Sec), int64(t.Nsec)).UTC() }

func appendTime(dst []byte, t Time) []byte {
	return msgr2.AppendU32(msgr2.AppendU32(dst, t.Sec), t.Nsec)
}

func decodeTime(d *msgr2.Decoder) Time { return Time{Sec: d.U32(), Nsec: d.U32()} }

// ParseKey decodes a key as written in a keyring ("AQ...==", the base64
// of the 28-byte CryptoKey encoding), as CryptoKey::decode_base64 does.
func ParseKey(s string) (Key, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("%w: base64: %w", ErrBadKey, err)
	}
	k, n, err := DecodeKey(raw)
	if err != nil {
		return Key{}, err
	}
	if n != len(raw) {
		return Key{}, fmt.Errorf("%w: %d trailing bytes", ErrBadKey, len(raw)-n)
	}
	return k, nil
}

// String returns the key in keyring form (base64 of its encoding).
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k.Append(nil)) }

// Append appends the CryptoKey encoding of k to dst.
func (k Key) Append(dst []byte) []byte {
	dst = msgr2.AppendU16(dst, k.Type)
	dst = appendTime(dst, k.Created)
	dst = msgr2.AppendU16(dst, SecretBytes)
	return append(dst, k.Secret[:]...)
}

// DecodeKey decodes a CryptoKey from the start of b and returns it with
// the number of bytes consumed.
func DecodeKey(b []byte) (Key, int, error) {
	d := msgr2.NewDecoder(b)
	k := decodeKey(d)
	if err := d.Err(); err != nil {
		return Key{}, 0, fmt.Errorf("%w: key: %w", ErrDecode, err)
	}
	if k.Type != KeyTypeAES {
		return Key{}, 0, fmt.Errorf("%w: type %d, want %d (AES)", ErrBadKey, k.Type, KeyTypeAES)
	}
	return k, d.Offset(), nil
}

func decodeKey(d *msgr2.Decoder) Key {
	var k Key
	k.Type = d.U16()
	k.Created = decodeTime(d)
	n := d.U16()
	if d.Err() == nil && n != SecretBytes {
		d.Fail("key secret length " + fmt.Sprint(n) + ", want 16")
		return k
	}
	copy(k.Secret[:], d.Fixed(SecretBytes))
	return k
}
