// Package cephx holds the codecs and the cryptography of Ceph's cephx
// authentication protocol, as pure functions over bytes: no sockets, no
// goroutines, no messenger state. It is the cephx counterpart of msgr2,
// whose Decoder and Append helpers it reuses.
//
// # Keys
//
// A Key is Ceph's CryptoKey: a type (1 = AES), a creation time and a
// 16-byte secret. A keyring stores it as the base64 of its 28-byte
// encoding ("AQ...=="); ParseKey reads that form, ParseKeyring and
// LoadKeyring read Ceph's INI-like keyring files and KeyringPaths lists
// where Ceph looks for one.
//
// # Cryptography
//
// cephx encrypts with AES-128-CBC under a fixed IV ("cephsageyudagreg")
// and PKCS#7 padding (Encrypt, Decrypt). Structures travel in an
// envelope, Ceph's encode_encrypt: a u32 length, then the ciphertext of
// {u8 1, u64 EnvelopeMagic, value} (EncodeEncrypt, DecodeDecrypt). A wrong
// key shows up as ErrBadCiphertext or ErrBadMagic. ChallengeKey is the
// client's proof of its secret; Signature is the msgr2 AUTH_SIGNATURE.
//
// # Messages
//
// A client authenticating with a monitor sends MonAuthRequest in its
// AUTH_REQUEST, reads a ServerChallenge from AUTH_REPLY_MORE, answers
// with an Authenticate request (RequestHeader + CephXAuthenticate) in
// AUTH_REQUEST_MORE and finally decodes the AUTH_DONE payload with
// ParseAuthDone, which yields the auth session key, the connection secret
// (empty in crc mode, 64 bytes in secure mode) and the service tickets.
//
// # Caveats
//
// Decoders check every length against the input before using it and
// never allocate more than the input's size; errors wrap ErrDecode and
// the sentinels in errors.go. Binary keyrings and the AES-256 key type
// of newer Ceph releases are not here yet.
//
// # Services and renewals
//
// A client reaches a service (an OSD, a MGR, a gomsgr service) with the
// ticket a monitor issued for it: Authorizer, AuthorizeChallenge and
// AuthorizeReply are the two rounds of authorizer mode, and a service
// opens tickets with OpenTicket under the secret their SecretID names
// (RotatingSecrets, which daemons fetch with AppendRotatingRequest and
// ParseRotatingReply). After authentication a client renews its auth
// ticket (Authenticate with OldTicket) and asks for service tickets
// (AppendPrincipalRequest) in MAuth messages, and decodes both answers
// with ParseTicketReply.
//
// The known-answer tests were computed outside Go (openssl enc and dgst,
// python3's struct module for the challenge key's XOR), so they check
// this package against independent implementations of the same rules,
// not against itself.
package cephx
