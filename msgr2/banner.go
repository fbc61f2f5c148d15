package msgr2

import (
	"encoding/binary"
	"strings"
)

// BannerPrefix opens every msgr2 connection, in both directions.
const BannerPrefix = "ceph v2\n"

// v1BannerPrefix is how a legacy msgr1 peer starts ("ceph v027").
const v1BannerPrefix = "ceph v027"

// BannerSize is the size of the banner this package writes: the prefix, a
// le16 payload length and a payload of two le64 feature masks.
const BannerSize = len(BannerPrefix) + 2 + bannerPayloadSize

const bannerPayloadSize = 16

// maxBannerPayload bounds the payload length a peer may announce.
const maxBannerPayload = 4096

// Features is a set of msgr2 protocol feature bits, a namespace distinct
// from Ceph's daemon feature bits.
type Features uint64

// Protocol features.
const (
	// FeatureRevision1 is msgr2.1 (REVISION_1): segment 0 carries its own crc
	// and the epilogue is sent only for multi-segment frames.
	FeatureRevision1 Features = 1 << 0
	// FeatureCompression is on-wire compression (COMPRESSION). This package
	// does not implement it, so it is never in SupportedFeatures.
	FeatureCompression Features = 1 << 1
)

// SupportedFeatures is what this package implements and advertises.
const SupportedFeatures = FeatureRevision1

// RequiredFeatures is what this package requires of a peer: nothing, so a
// msgr2.0 peer falls back to revision 0 framing.
const RequiredFeatures Features = 0

// String implements fmt.Stringer.
func (f Features) String() string {
	if f == 0 {
		return "none"
	}
	var parts []string
	if f&FeatureRevision1 != 0 {
		parts = append(parts, "REVISION_1")
	}
	if f&FeatureCompression != 0 {
		parts = append(parts, "COMPRESSION")
	}
	if rest := f &^ (FeatureRevision1 | FeatureCompression); rest != 0 {
		parts = append(parts, "0x"+hex64(uint64(rest)))
	}
	return strings.Join(parts, "|")
}

// Banner is the feature part of a msgr2 banner.
type Banner struct {
	Supported Features
	Required  Features
}

// LocalBanner is the banner this package's features call for.
var LocalBanner = Banner{Supported: SupportedFeatures, Required: RequiredFeatures}

// AppendBanner appends the encoded banner: "ceph v2\n", le16 16, le64
// supported, le64 required.
func AppendBanner(dst []byte, b Banner) []byte {
	dst = append(dst, BannerPrefix...)
	dst = binary.LittleEndian.AppendUint16(dst, bannerPayloadSize)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Supported))
	return binary.LittleEndian.AppendUint64(dst, uint64(b.Required))
}

// ParseBanner decodes a peer's banner from the start of b. It returns the
// banner and the number of bytes it occupies. If b is too short it returns
// ErrShort and, as n, the total number of bytes needed so far (10 until the
// payload length is known). A msgr1 banner gives ErrV1Banner, anything else
// that is not a msgr2 banner ErrBadBanner. A payload longer than 16 bytes is
// accepted and its extra bytes ignored, as Ceph's decoder does.
func ParseBanner(b []byte) (banner Banner, n int, err error) {
	const head = len(BannerPrefix) + 2
	// Classify as early as possible: a v1 or garbage banner is refused even
	// before 10 bytes have arrived.
	m := min(len(b), len(BannerPrefix))
	if string(b[:m]) != BannerPrefix[:m] {
		k := min(len(b), len(v1BannerPrefix))
		if string(b[:k]) == v1BannerPrefix[:k] && k >= len("ceph v0") {
			return Banner{}, 0, frameErr(ErrV1Banner, 0, "")
		}
		return Banner{}, 0, frameErr(ErrBadBanner, 0, "prefix is "+quoteBytes(b[:m]))
	}
	if len(b) < head {
		return Banner{}, head, ErrShort
	}
	plen := int(binary.LittleEndian.Uint16(b[len(BannerPrefix):]))
	if plen < bannerPayloadSize {
		return Banner{}, 0, frameErr(ErrBadBanner, 0, "payload length "+itoa(plen)+" < 16")
	}
	if plen > maxBannerPayload {
		return Banner{}, 0, frameErr(ErrBadBanner, 0, "payload length "+itoa(plen)+" too large")
	}
	n = head + plen
	if len(b) < n {
		return Banner{}, n, ErrShort
	}
	banner.Supported = Features(binary.LittleEndian.Uint64(b[head:]))
	banner.Required = Features(binary.LittleEndian.Uint64(b[head+8:]))
	return banner, n, nil
}

// Negotiate checks that each side supports what the other requires and
// returns the features both support. The frame revision to use is
// RevisionFor(agreed).
func Negotiate(local, peer Banner) (agreed Features, err error) {
	if missing := peer.Required &^ local.Supported; missing != 0 {
		return 0, frameErr(ErrFeatures, 0, "peer requires "+missing.String())
	}
	if missing := local.Required &^ peer.Supported; missing != 0 {
		return 0, frameErr(ErrFeatures, 0, "peer lacks "+missing.String())
	}
	return local.Supported & peer.Supported, nil
}

// RevisionFor returns the frame revision that agreed features select.
func RevisionFor(agreed Features) Revision {
	if agreed&FeatureRevision1 != 0 {
		return Rev1
	}
	return Rev0
}

func quoteBytes(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*4+2)
	out = append(out, '"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			out = append(out, c)
			continue
		}
		out = append(out, '\\', 'x', hexdigits[c>>4], hexdigits[c&15])
	}
	return string(append(out, '"'))
}

func hex64(v uint64) string {
	const hexdigits = "0123456789abcdef"
	var buf [16]byte
	i := len(buf)
	for {
		i--
		buf[i] = hexdigits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return string(buf[i:])
}
