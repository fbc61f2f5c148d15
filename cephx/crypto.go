package cephx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// IV is the fixed AES-CBC initialisation vector of Ceph's CryptoAES
// (CEPH_AES_IV in src/auth/Crypto.cc and net/ceph/crypto.c).
const IV = "cephsageyudagreg"

// EnvelopeMagic is AUTH_ENC_MAGIC, the u64 that follows the version byte
// in every encrypted cephx envelope; decoding checks it.
const EnvelopeMagic uint64 = 0xff009cad8826aa55

// envelopeHeaderBytes is {u8 1, u64 magic}.
const envelopeHeaderBytes = 1 + 8

// Encrypt appends the AES-128-CBC encryption of plaintext under k, with
// IV and PKCS#7 padding (always 1..16 bytes), to dst. It mirrors
// CryptoAESKeyHandler::encrypt.
func Encrypt(dst []byte, k Key, plaintext []byte) []byte {
	block, err := aes.NewCipher(k.Secret[:])
	if err != nil {
		panic("cephx: AES-128 with a 16-byte key failed: " + err.Error())
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	start := len(dst)
	dst = append(dst, plaintext...)
	for range pad {
		dst = append(dst, byte(pad))
	}
	cipher.NewCBCEncrypter(block, []byte(IV)).CryptBlocks(dst[start:], dst[start:])
	return dst
}

// Decrypt returns the plaintext of an AES-128-CBC ciphertext made by
// Encrypt, after checking and removing its PKCS#7 padding. It allocates
// at most len(ciphertext) bytes.
func Decrypt(k Key, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: length %d is not a positive multiple of 16", ErrBadCiphertext, len(ciphertext))
	}
	block, err := aes.NewCipher(k.Secret[:])
	if err != nil {
		panic("cephx: AES-128 with a 16-byte key failed: " + err.Error())
	}
	out := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, []byte(IV)).CryptBlocks(out, ciphertext)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("%w: padding byte %d", ErrBadCiphertext, pad)
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: inconsistent padding", ErrBadCiphertext)
		}
	}
	return out[:len(out)-pad], nil
}

// EncodeEncrypt appends Ceph's encode_encrypt of a value to dst: a u32
// length, then the encryption under k of {u8 1, u64 EnvelopeMagic, the
// value's encoding}. appendValue appends that encoding to its argument.
func EncodeEncrypt(dst []byte, k Key, appendValue func([]byte) []byte) []byte {
	plain := msgr2.AppendU8(nil, 1)
	plain = msgr2.AppendU64(plain, EnvelopeMagic)
	plain = appendValue(plain)
	mark := len(dst)
	dst = msgr2.AppendU32(dst, 0)
	dst = Encrypt(dst, k, plain)
	binary.LittleEndian.PutUint32(dst[mark:], uint32(len(dst)-mark-4))
	return dst
}

// DecodeDecrypt reads one encode_encrypt envelope (u32 length and
// ciphertext) from the start of b, decrypts it with k and checks the
// version and magic. It returns the value's encoding and the number of
// bytes of b consumed. It mirrors decode_decrypt in CephxProtocol.h.
func DecodeDecrypt(k Key, b []byte) (value []byte, n int, err error) {
	d := msgr2.NewDecoder(b)
	ct := d.Bytes()
	if err := d.Err(); err != nil {
		return nil, 0, fmt.Errorf("%w: envelope: %w", ErrDecode, err)
	}
	value, err = openEnvelope(k, ct)
	if err != nil {
		return nil, 0, err
	}
	return value, d.Offset(), nil
}

// openEnvelope decrypts an envelope's ciphertext and checks its header.
func openEnvelope(k Key, ct []byte) ([]byte, error) {
	plain, err := Decrypt(k, ct)
	if err != nil {
		return nil, err
	}
	if len(plain) < envelopeHeaderBytes {
		return nil, fmt.Errorf("%w: envelope of %d bytes", ErrBadMagic, len(plain))
	}
	if v := plain[0]; v != 1 {
		return nil, fmt.Errorf("%w: envelope version %d", ErrBadMagic, v)
	}
	if m := binary.LittleEndian.Uint64(plain[1:]); m != EnvelopeMagic {
		return nil, fmt.Errorf("%w: %#x", ErrBadMagic, m)
	}
	return plain[envelopeHeaderBytes:], nil
}

// ChallengeKey computes the client's proof of its secret for
// CephXAuthenticate.key, as cephx_calc_client_server_challenge does:
// encode_encrypt CephXChallengeBlob{server_challenge, client_challenge}
// under secret, then XOR every complete little-endian u64 of the result,
// counting from its u32 length prefix (36 bytes: words at 0, 8, 16, 24;
// the last 4 bytes are left out).
func ChallengeKey(secret Key, serverChallenge, clientChallenge uint64) uint64 {
	enc := EncodeEncrypt(make([]byte, 0, 4+32), secret, func(b []byte) []byte {
		return msgr2.AppendU64(msgr2.AppendU64(b, serverChallenge), clientChallenge)
	})
	var k uint64
	for pos := 0; pos+8 <= len(enc); pos += 8 {
		k ^= binary.LittleEndian.Uint64(enc[pos:])
	}
	return k
}

// SignatureBytes is the length of an AUTH_SIGNATURE payload.
const SignatureBytes = sha256.Size

// Signature returns the AUTH_SIGNATURE payload: HMAC-SHA256 keyed with
// the session key's 16 secret bytes over every byte the signer received
// (or, to check a peer's, every byte sent) from the banner on.
func Signature(sessionKey Key, transcript []byte) [SignatureBytes]byte {
	m := hmac.New(sha256.New, sessionKey.Secret[:])
	m.Write(transcript)
	var out [SignatureBytes]byte
	m.Sum(out[:0])
	return out
}

// VerifySignature reports whether sig is the Signature of transcript,
// comparing in constant time.
func VerifySignature(sessionKey Key, transcript, sig []byte) bool {
	want := Signature(sessionKey, transcript)
	return hmac.Equal(want[:], sig)
}
