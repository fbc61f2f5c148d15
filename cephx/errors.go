package cephx

import "errors"

// Errors returned by this package. Decoding failures wrap ErrDecode (and
// msgr2.ErrDecode from the shared decoder); callers branch with errors.Is.
var (
	// ErrDecode means an encoded structure is truncated or malformed.
	ErrDecode = errors.New("cephx: decode error")
	// ErrBadKey means a key is not a 16-byte AES CryptoKey.
	ErrBadKey = errors.New("cephx: bad key")
	// ErrBadCiphertext means a ciphertext is not a whole number of AES
	// blocks or its PKCS#7 padding is invalid (wrong key or corruption).
	ErrBadCiphertext = errors.New("cephx: bad ciphertext")
	// ErrBadMagic means a decrypted envelope lacks Ceph's AUTH_ENC_MAGIC,
	// which is what a wrong key usually produces.
	ErrBadMagic = errors.New("cephx: bad envelope magic")
	// ErrNoEntity means a keyring has no section for the entity.
	ErrNoEntity = errors.New("cephx: entity not in keyring")
	// ErrAuthFailed means the server's response header carries a
	// non-zero status.
	ErrAuthFailed = errors.New("cephx: authentication failed")
)
