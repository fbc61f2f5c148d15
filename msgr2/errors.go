package msgr2

import (
	"errors"
	"strconv"
)

// Sentinel errors that callers branch on with errors.Is. Decoders wrap them
// in a *FrameError that adds the tag and a reason.
var (
	// ErrShort means the input ends before the item is complete. It is
	// returned bare (never wrapped) by the frame and banner decoders, so the
	// steady read path does not allocate; those decoders also say how many
	// bytes the item needs in total.
	ErrShort = errors.New("msgr2: short input")
	// ErrBadCRC means a preamble, segment or header crc32c does not match.
	ErrBadCRC = errors.New("msgr2: bad crc")
	// ErrSegmentTooLarge means a segment length exceeds the configured maximum.
	ErrSegmentTooLarge = errors.New("msgr2: segment too large")
	// ErrTooManySegments means a preamble announces 0 or more than 4 segments.
	ErrTooManySegments = errors.New("msgr2: bad segment count")
	// ErrBadPreamble means a preamble is otherwise malformed (last segment
	// empty, unsupported flags).
	ErrBadPreamble = errors.New("msgr2: bad preamble")
	// ErrBadEpilogue means the late status of an epilogue is not a valid code word.
	ErrBadEpilogue = errors.New("msgr2: bad epilogue")
	// ErrUnknownTag means a frame tag is not one this package knows.
	ErrUnknownTag = errors.New("msgr2: unknown frame tag")
	// ErrUnexpectedTag means a payload decoder was given a frame of another tag.
	ErrUnexpectedTag = errors.New("msgr2: unexpected frame tag")
	// ErrBadBanner means the peer's banner is not a msgr2 banner.
	ErrBadBanner = errors.New("msgr2: bad banner")
	// ErrV1Banner means the peer speaks the legacy msgr1 protocol.
	ErrV1Banner = errors.New("msgr2: peer uses msgr v1 banner")
	// ErrFeatures means the peer requires protocol features we lack, or
	// lacks features we require.
	ErrFeatures = errors.New("msgr2: missing protocol features")
	// ErrDecode means a payload is not a valid Ceph encoding (a length past
	// the end, a struct version we cannot decode, a bad marker, ...).
	ErrDecode = errors.New("msgr2: bad encoding")
	// ErrUnknownMessage means a message type has no entry in the registry.
	ErrUnknownMessage = errors.New("msgr2: unknown message type")
)

// FrameError describes malformed input: Kind is one of the sentinel errors
// (so errors.Is(err, ErrBadCRC) works), Tag the frame tag when known (0
// otherwise) and Reason a short human explanation.
type FrameError struct {
	Kind   error
	Tag    Tag
	Reason string
}

// Error implements error.
func (e *FrameError) Error() string {
	s := e.Kind.Error()
	if e.Tag != 0 {
		s += " in " + e.Tag.String() + " frame"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the sentinel kind.
func (e *FrameError) Unwrap() error { return e.Kind }

func frameErr(kind error, tag Tag, reason string) error {
	return &FrameError{Kind: kind, Tag: tag, Reason: reason}
}

// withTag sets the tag of a *FrameError that has none; other errors are
// returned unchanged.
func withTag(err error, tag Tag) error {
	var fe *FrameError
	if errors.As(err, &fe) && fe.Tag == 0 {
		fe.Tag = tag
	}
	return err
}

func itoa(v int) string { return strconv.Itoa(v) }

func utoa(v uint64) string { return strconv.FormatUint(v, 10) }
