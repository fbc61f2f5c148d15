package msgr2

import (
	"hash/crc32"
	"strconv"
	"testing"
)

var benchSizes = []int{64, 4 << 10, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkPreambleEncode(b *testing.B) {
	p := Preamble{Tag: TagMessage, NumSegments: 4, Segments: [4]SegmentDesc{{41, 8}, {64, 8}, {0, 8}, {4096, 4096}}}
	buf := make([]byte, 0, PreambleSize)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPreamble(buf[:0], &p)
	}
}

func BenchmarkPreambleDecode(b *testing.B) {
	p := Preamble{Tag: TagMessage, NumSegments: 4, Segments: [4]SegmentDesc{{41, 8}, {64, 8}, {0, 8}, {4096, 4096}}}
	buf := AppendPreamble(nil, &p)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePreamble(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessageEncode assembles a MESSAGE frame (msgr2.1) whose payload
// is the data segment, into iovecs ready for writev; crcs included.
func BenchmarkMessageEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			data := make([]byte, n)
			h := MsgHeader2{Type: MsgPing, Priority: PrioDefault, Version: 1}
			var mf MessageFrame
			iov := make([][]byte, 0, 5)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				h.Seq++
				mf.Encode(Rev1, &h, nil, nil, data)
				iov = mf.Iovecs(iov[:0])
			}
		})
	}
}

// BenchmarkMessageDecode decodes one MESSAGE frame from a buffer: preamble,
// crcs of every segment, epilogue and ceph_msg_header2.
func BenchmarkMessageDecode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			h := MsgHeader2{Type: MsgPing, Priority: PrioDefault, Version: 1}
			var mf MessageFrame
			mf.Encode(Rev1, &h, nil, nil, make([]byte, n))
			wire := mf.AppendTo(nil)
			r := FrameReader{Rev: Rev1}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				f, _, err := r.Decode(wire)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, _, _, err := DecodeMessage(&f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkControlEncode(b *testing.B) {
	buf := make([]byte, 0, 64)
	ack := Ack{Seq: 1}
	b.ReportAllocs()
	for b.Loop() {
		buf, start := BeginControl(buf[:0])
		buf = ack.AppendPayload(buf)
		buf = FinishControl(buf, start, Rev1, TagAck)
		_ = buf
	}
}

// BenchmarkCRC32C is the segment crc (Ceph's seed and finalization) next to
// the standard library's own CRC-32C on the same input.
func BenchmarkCRC32C(b *testing.B) {
	for _, n := range []int{64, 4 << 10, 64 << 10, 1 << 20} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run("msgr2/"+sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				SegmentCRC(buf)
			}
		})
		b.Run("hash-crc32/"+sizeName(n), func(b *testing.B) {
			tab := crc32.MakeTable(crc32.Castagnoli)
			b.SetBytes(int64(n))
			for b.Loop() {
				crc32.Checksum(buf, tab)
			}
		})
	}
}

// BenchmarkControlDecode decodes steady-state control frames (ACK,
// KEEPALIVE2) from a buffer into reused payload values.
func BenchmarkControlDecode(b *testing.B) {
	wire := AppendControl(nil, Rev1, &Ack{Seq: 7})
	wire = AppendControl(wire, Rev1, &Keepalive2{Stamp: UTime{1, 2}})
	r := FrameReader{Rev: Rev1}
	var ack Ack
	var ka Keepalive2
	b.ReportAllocs()
	for b.Loop() {
		f, n, err := r.Decode(wire)
		if err != nil {
			b.Fatal(err)
		}
		if err := ack.DecodePayload(f.Payload()); err != nil {
			b.Fatal(err)
		}
		f, _, err = r.Decode(wire[n:])
		if err != nil {
			b.Fatal(err)
		}
		if err := ka.DecodePayload(f.Payload()); err != nil {
			b.Fatal(err)
		}
	}
}
