package msgr2

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is Ceph's ceph_crc32c(seed, b): the reflected Castagnoli CRC with
// the seed used as the register as is and no final inversion. It equals
// ^crc32.Update(^seed, Castagnoli, b), so it runs on the standard library's
// hardware-accelerated implementation. An empty b returns seed.
//
// msgr2 uses seed 0 for the preamble crc and seed 0xFFFFFFFF (Ceph's -1)
// for segment crcs; see PreambleCRC and SegmentCRC.
func CRC32C(seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, b)
}

// SegmentCRC is the crc msgr2 carries for a segment: ceph_crc32c(-1, b).
// It is the bitwise complement of the standard CRC-32C of b.
func SegmentCRC(b []byte) uint32 {
	return ^crc32.Update(0, castagnoli, b)
}

// SegmentCRCUpdate continues a segment crc over one more piece of a segment
// held in several buffers: start with crc = 0xFFFFFFFF and feed the pieces
// in order; the result equals SegmentCRC of their concatenation.
func SegmentCRCUpdate(crc uint32, b []byte) uint32 {
	return CRC32C(crc, b)
}

// PreambleCRC is the crc over the first 28 bytes of a preamble: ceph_crc32c(0, b).
func PreambleCRC(b []byte) uint32 {
	return CRC32C(0, b)
}
