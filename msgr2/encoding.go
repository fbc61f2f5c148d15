package msgr2

import (
	"encoding/binary"
	"slices"
)

// Encoders for Ceph's primitive encodings (include/encoding.h): integers
// little-endian, bool as one byte, strings and bufferlists as a le32
// length and the bytes, vectors as a le32 count and the elements, maps as a
// le32 count and key/value pairs in key order, versioned structs behind an
// ENCODE_START header (u8 struct_v, u8 compat_v, le32 length).

// AppendU8 appends v.
func AppendU8(dst []byte, v uint8) []byte { return append(dst, v) }

// AppendU16 appends v as le16.
func AppendU16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }

// AppendU32 appends v as le32.
func AppendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

// AppendU64 appends v as le64.
func AppendU64(dst []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(dst, v) }

// AppendBool appends v as one byte, 1 or 0.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendBytes appends b as a Ceph bufferlist: le32 length, then the bytes.
func AppendBytes(dst []byte, b []byte) []byte {
	dst = AppendU32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendString appends s as a Ceph string: le32 length, then the bytes.
func AppendString(dst []byte, s string) []byte {
	dst = AppendU32(dst, uint32(len(s)))
	return append(dst, s...)
}

// AppendU32Slice appends a vector<uint32_t>.
func AppendU32Slice(dst []byte, v []uint32) []byte {
	dst = AppendU32(dst, uint32(len(v)))
	for _, x := range v {
		dst = AppendU32(dst, x)
	}
	return dst
}

// AppendStringSlice appends a vector<string>.
func AppendStringSlice(dst []byte, v []string) []byte {
	dst = AppendU32(dst, uint32(len(v)))
	for _, s := range v {
		dst = AppendString(dst, s)
	}
	return dst
}

// AppendStringMap appends a map<string,string>, keys in ascending order as
// a std::map iterates.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = AppendU32(dst, uint32(len(keys)))
	for _, k := range keys {
		dst = AppendString(dst, k)
		dst = AppendString(dst, m[k])
	}
	return dst
}

// StructHeaderSize is the size of an ENCODE_START header.
const StructHeaderSize = 6

// AppendStructStart appends an ENCODE_START header with a placeholder
// length; pass the returned mark to FinishStruct once the body is appended.
func AppendStructStart(dst []byte, v, compat uint8) (out []byte, mark int) {
	return append(dst, v, compat, 0, 0, 0, 0), len(dst)
}

// FinishStruct fills in the length of the struct started at mark.
func FinishStruct(dst []byte, mark int) []byte {
	binary.LittleEndian.PutUint32(dst[mark+2:], uint32(len(dst)-mark-StructHeaderSize))
	return dst
}

// Decoder reads Ceph encodings from a byte slice with bounds checks. The
// first failure sticks: later reads return zero values and Err reports the
// failure, so a decoder can read a whole struct and check once.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b. Byte slices it returns alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d decode b from the start, clearing any error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b} }

// Err returns the first decoding error, wrapping ErrDecode.
func (d *Decoder) Err() error { return d.err }

// Offset returns the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of bytes left.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Fail records a decoding failure (wrapping ErrDecode) with reason,
// unless a failure is already recorded. Message decoders use it for
// checks of their own.
func (d *Decoder) Fail(reason string) {
	if d.err == nil {
		d.err = frameErr(ErrDecode, 0, reason)
	}
}

func (d *Decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.Fail(what + ": need " + itoa(n) + " bytes, have " + itoa(len(d.b)-d.off))
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	if p := d.take(1, "u8"); p != nil {
		return p[0]
	}
	return 0
}

// U16 reads a le16.
func (d *Decoder) U16() uint16 {
	if p := d.take(2, "le16"); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

// U32 reads a le32.
func (d *Decoder) U32() uint32 {
	if p := d.take(4, "le32"); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// U64 reads a le64.
func (d *Decoder) U64() uint64 {
	if p := d.take(8, "le64"); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// Bool reads one byte; any non-zero value is true, as in Ceph.
func (d *Decoder) Bool() bool { return d.U8() != 0 }

// Fixed reads n raw bytes, aliasing the input.
func (d *Decoder) Fixed(n int) []byte { return d.take(n, "fixed bytes") }

// Bytes reads a bufferlist (le32 length and bytes), aliasing the input.
func (d *Decoder) Bytes() []byte {
	n := d.U32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(d.Remaining()) {
		d.Fail("length " + utoa(uint64(n)) + " past the end")
		return nil
	}
	return d.take(int(n), "bytes")
}

// String reads a string (le32 length and bytes).
func (d *Decoder) String() string { return string(d.Bytes()) }

// count reads a le32 element count and checks that count elements of at
// least minSize bytes each can fit in what is left, which bounds any
// allocation by the input size.
func (d *Decoder) count(minSize int) int {
	n := d.U32()
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(minSize) > uint64(d.Remaining()) {
		d.Fail("count " + utoa(uint64(n)) + " past the end")
		return 0
	}
	return int(n)
}

// U32Slice reads a vector<uint32_t>.
func (d *Decoder) U32Slice() []uint32 {
	n := d.count(4)
	if d.err != nil {
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = d.U32()
	}
	return v
}

// StringSlice reads a vector<string>.
func (d *Decoder) StringSlice() []string {
	n := d.count(4)
	if d.err != nil {
		return nil
	}
	v := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		v = append(v, d.String())
	}
	return v
}

// StringMap reads a map<string,string>.
func (d *Decoder) StringMap() map[string]string {
	n := d.count(8)
	if d.err != nil {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.String()
		m[k] = d.String()
	}
	return m
}

// StructStart reads an ENCODE_START header for a struct whose newest
// version this code understands is supported. It fails when the encoder
// says its data needs a newer decoder (compat_v > supported) or when the
// length runs past the end. It returns the struct version and the offset
// where the struct ends, for StructEnd.
func (d *Decoder) StructStart(supported uint8) (v uint8, end int) {
	v = d.U8()
	compat := d.U8()
	n := d.U32()
	if d.err != nil {
		return 0, d.off
	}
	if compat > supported {
		d.Fail("struct compat_v " + itoa(int(compat)) + " > supported " + itoa(int(supported)))
		return 0, d.off
	}
	if uint64(n) > uint64(d.Remaining()) {
		d.Fail("struct length " + utoa(uint64(n)) + " past the end")
		return 0, d.off
	}
	return v, d.off + int(n)
}

// StructEnd skips whatever a newer encoder appended to the struct that
// ends at end, and fails if the body read past it.
func (d *Decoder) StructEnd(end int) {
	if d.err != nil {
		return
	}
	if d.off > end {
		d.Fail("struct body past its length")
		return
	}
	d.off = end
}
