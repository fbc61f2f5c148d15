package msgr2

import (
	"bytes"
	"testing"
)

// TestEncodeCRC: a frame encoded with payload crcs computed ahead is
// byte-identical to one encoded by Encode, in both revisions, with and
// without empty segments.
func TestEncodeCRC(t *testing.T) {
	cases := [][3][]byte{
		{[]byte("front"), nil, nil},
		{[]byte("front"), []byte("middle"), bytes.Repeat([]byte{7}, 5000)},
		{nil, nil, bytes.Repeat([]byte{9}, 70000)},
		{[]byte("f"), nil, []byte("data")},
	}
	for _, rev := range []Revision{Rev0, Rev1} {
		for i, c := range cases {
			h := MsgHeader2{Seq: 9, Tid: 3, Type: 42, Priority: 127}
			var a, b MessageFrame
			a.Encode(rev, &h, c[0], c[1], c[2])
			pc := ComputePayloadCRCs(c[0], c[1], c[2])
			b.EncodeCRC(rev, &h, c[0], c[1], c[2], &pc)
			if !bytes.Equal(a.AppendTo(nil), b.AppendTo(nil)) {
				t.Fatalf("rev %v case %d: EncodeCRC differs from Encode", rev, i)
			}
		}
	}
}

func BenchmarkEncodeCRC64K(b *testing.B) {
	data := make([]byte, 64<<10)
	pc := ComputePayloadCRCs(nil, nil, data)
	var f MessageFrame
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h := MsgHeader2{Seq: uint64(i), Type: 42}
		f.EncodeCRC(Rev1, &h, nil, nil, data, &pc)
	}
}
