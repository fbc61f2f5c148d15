package cephx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// testKey has the ASCII secret "0123456789abcdef" (hex 3031...6566), so
// its vectors can be recomputed with openssl enc -K.
var testKey = Key{Type: KeyTypeAES, Secret: [16]byte([]byte("0123456789abcdef"))}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The ciphertexts below come from OpenSSL, not from this package:
//
//	printf hello | openssl enc -aes-128-cbc -K 30313233343536373839616263646566 \
//	    -iv 63657068736167657975646167726567 | xxd -p
//
// (openssl enc pads with PKCS#7, as Ceph does; 16 bytes of input get a
// whole block of padding.)
func TestEncryptKnownAnswer(t *testing.T) {
	tests := []struct {
		name, plain, cipher string
	}{
		{"short", "hello", "718279d8e0f1a6bda27507338d6e0625"},
		{"one block gets a padding block", "0123456789abcdef",
			"24c9cb29c82a564cbd0853eb96ee4e2ef19aa21c47c9c97fb63685738d262f73"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Encrypt(nil, testKey, []byte(tt.plain))
			if want := unhex(t, tt.cipher); !bytes.Equal(got, want) {
				t.Fatalf("Encrypt = %x, want %x", got, want)
			}
			plain, err := Decrypt(testKey, got)
			if err != nil || string(plain) != tt.plain {
				t.Fatalf("Decrypt = %q, %v; want %q", plain, err, tt.plain)
			}
		})
	}
}

// envelopeCipher is OpenSSL's encryption (same command as above) of the
// envelope {01, magic 55aa2688ad9c00ff, CephXChallengeBlob{server
// 0x1122334455667788, client 0x8877665544332211}}, i.e. of the hex
// 0155aa2688ad9c00ff 8877665544332211 1122334455667788.
const envelopeCipher = "2ca3843b6c37be64b86a3c39831d0ad3bf7e43cdac0bbefb58749ccfb2525aa2"

func appendBlob(b []byte) []byte {
	b = append(b, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11)
	return append(b, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88)
}

func TestEncodeEncryptKnownAnswer(t *testing.T) {
	got := EncodeEncrypt(nil, testKey, appendBlob)
	want := append([]byte{32, 0, 0, 0}, unhex(t, envelopeCipher)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeEncrypt = %x, want %x", got, want)
	}
	v, n, err := DecodeDecrypt(testKey, append(got, 0xee))
	if err != nil || n != len(got) || !bytes.Equal(v, appendBlob(nil)) {
		t.Fatalf("DecodeDecrypt = %x, %d, %v", v, n, err)
	}
}

// The expected key was computed outside Go: python3's struct module
// XORed the little-endian u64 words at offsets 0, 8, 16 and 24 of the
// 36 bytes "20000000" + envelopeCipher (the last 4 bytes are not a whole
// word and are left out, as in cephx_calc_client_server_challenge and
// the kernel's ceph_x_encrypt + xor loop).
func TestChallengeKeyKnownAnswer(t *testing.T) {
	got := ChallengeKey(testKey, 0x1122334455667788, 0x8877665544332211)
	if want := uint64(0x0067c3734c0a2163); got != want {
		t.Fatalf("ChallengeKey = %#x, want %#x", got, want)
	}
}

func TestDecryptErrors(t *testing.T) {
	other := testKey
	other.Secret[0] ^= 1
	env := EncodeEncrypt(nil, testKey, appendBlob)
	tests := []struct {
		name string
		key  Key
		in   []byte
		want error
	}{
		{"empty", testKey, nil, ErrDecode},
		{"length past end", testKey, []byte{32, 0, 0, 0, 1}, ErrDecode},
		{"not a block multiple", testKey, []byte{3, 0, 0, 0, 1, 2, 3}, ErrBadCiphertext},
		{"wrong key", other, env, ErrBadCiphertext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeDecrypt(tt.key, tt.in)
			// A wrong key can leave valid padding; then the magic catches it.
			wrongKeyMagic := tt.name == "wrong key" && errors.Is(err, ErrBadMagic)
			if !errors.Is(err, tt.want) && !wrongKeyMagic {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBadMagic(t *testing.T) {
	ct := append([]byte{16, 0, 0, 0}, Encrypt(nil, testKey, []byte("no magic here"))...)
	if _, _, err := DecodeDecrypt(testKey, ct); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("err = %v, want ErrBadMagic", err)
	}
}

// TestSignature checks the contract: the signature is the HMAC-SHA256 of
// the transcript (openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef)
// and verifies only that transcript.
func TestSignature(t *testing.T) {
	sig := Signature(testKey, []byte("transcript"))
	if want := unhex(t, "9eab7c090ad7c867ed19fc310adf5c9dadc5796b1d9a363c0b9ec689977f11cf"); !bytes.Equal(sig[:], want) {
		t.Fatalf("Signature = %x, want %x", sig, want)
	}
	if !VerifySignature(testKey, []byte("transcript"), sig[:]) {
		t.Fatal("signature does not verify")
	}
	if VerifySignature(testKey, []byte("transcripT"), sig[:]) {
		t.Fatal("signature verifies another transcript")
	}
}
