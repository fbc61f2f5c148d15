package monc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/gomsgr/gomsgr/msgr2"
)

// monmapFront is the start of a real MMonMap front (ceph-mon 16.2.15,
// monmap v9 compat 6, epoch 1) followed by filler for the rest of the
// struct, which the decoder skips.
func monmapFront(v, compat uint8, fsid msgr2.UUID, epoch uint32, rest int) []byte {
	body := append([]byte(nil), fsid[:]...)
	body = msgr2.AppendU32(body, epoch)
	body = append(body, bytes.Repeat([]byte{0xee}, rest)...)
	st := []byte{v, compat}
	st = msgr2.AppendU32(st, uint32(len(body)))
	st = append(st, body...)
	return msgr2.AppendBytes(nil, st)
}

func TestDecodeMonMapHeader(t *testing.T) {
	fsid, _ := msgr2.ParseUUID("100d151a-6d97-4a9f-9097-bad5a8fc4dc0")
	// The first bytes the mon sent in the probe of this package (c9000000:
	// bufferlist length 201; 09 06 c3000000: ENCODE_START(9, 6), 195 bytes).
	real, _ := hex.DecodeString("c90000000906c3000000100d151a6d974a9f9097bad5a8fc4dc001000000")
	real = append(real, bytes.Repeat([]byte{0}, 201-len(real)+4)...)
	good := monmapFront(9, 6, fsid, 7, 100)
	cases := []struct {
		name    string
		front   []byte
		epoch   uint32
		wantErr bool
	}{
		{"captured", real, 1, false},
		{"built", good, 7, false},
		{"newer compat still has the fsid first", monmapFront(12, 10, fsid, 3, 0), 3, false},
		{"empty", nil, 0, true},
		{"short bufferlist", good[:20], 0, true},
		{"struct too short for the epoch", monmapFront(9, 6, fsid, 1, 0)[:4+6+18], 0, true},
		{"old encoding", monmapFront(5, 1, fsid, 1, 10), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, epoch, err := decodeMonMapHeader(tc.front)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decoded %v epoch %d, want an error", got, epoch)
				}
				return
			}
			if err != nil || got != fsid || epoch != tc.epoch {
				t.Fatalf("got %v epoch %d err %v, want %v epoch %d", got, epoch, err, fsid, tc.epoch)
			}
		})
	}
}

func FuzzDecodeMonMapHeader(f *testing.F) {
	fsid, _ := msgr2.ParseUUID("100d151a-6d97-4a9f-9097-bad5a8fc4dc0")
	f.Add(monmapFront(9, 6, fsid, 1, 50))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeMonMapHeader(b) // any answer: the property is not panicking
	})
}

func TestCommandError(t *testing.T) {
	r := CommandReply{Rc: -2, Status: "key 'x' doesn't exist"}
	err := r.Err()
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Rc != -2 {
		t.Fatalf("Err() = %#v", err)
	}
	if want := "monc: mon command failed: no such file or directory (rc -2): key 'x' doesn't exist"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if (&CommandReply{}).Err() != nil {
		t.Error("rc 0 is not an error")
	}
}
