// Package msgr2 is Ceph's msgr2 wire protocol as pure functions over bytes.
//
// It covers what a crc-mode, auth-none session needs, byte for byte as a
// real Ceph daemon speaks it: the banner and its feature negotiation
// (msgr2.0 and msgr2.1), the 32-byte frame preamble, segment and epilogue
// crcs (crc32c with Ceph's seed conventions), typed payloads for every
// frame tag used in crc mode, Ceph's encodings (entity_name_t,
// entity_addr_t in its legacy and ADDR2 forms, entity_addrvec_t, utime_t,
// strings, vectors, maps, ENCODE_START headers), ceph_msg_header2 and the
// MESSAGE frame, and a few message payloads (MPing, MMonGetMap,
// MMonGetVersion and MMonCommand, and the replies to the last two) with a
// registry for more.
//
// The package holds no sockets, no goroutines and no state beyond what a
// decoder needs. Decoders work on a byte slice that may hold several frames
// or only part of one: they return ErrShort together with the number of
// bytes the frame needs, and never block. Encoders append to caller-owned
// buffers; a MESSAGE frame is assembled as a short list of iovecs whose
// payload entries reference the caller's slices, so a writer can send it
// with one writev and no payload copy. Every decoder reports malformed
// input with an error that wraps one of the sentinel errors (ErrShort,
// ErrBadCRC, ErrSegmentTooLarge, ErrTooManySegments, ErrUnknownTag,
// ErrBadBanner, ErrV1Banner, ErrDecode, ...), usually inside a *FrameError
// that names the frame tag; no input makes it panic.
//
// Byte layouts and constants come from Ceph's documentation and headers
// (doc/dev/msgr2.rst, src/msg/async/frames_v2.h, src/include/msgr.h,
// src/msg/msg_types.h); the code is our own. Golden tests replay frames
// captured from a real ceph-mon 16.2.15 (see testdata/README.md).
package msgr2
