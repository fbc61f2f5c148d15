package msgr2_test

import (
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Example shows one exchange step: negotiate the revision from the banners,
// encode a control frame and a MESSAGE frame, then decode them from a
// buffer that fills up in two reads.
func Example() {
	peer := msgr2.AppendBanner(nil, msgr2.Banner{Supported: msgr2.FeatureRevision1})
	banner, _, err := msgr2.ParseBanner(peer)
	if err != nil {
		panic(err)
	}
	agreed, err := msgr2.Negotiate(msgr2.LocalBanner, banner)
	if err != nil {
		panic(err)
	}
	rev := msgr2.RevisionFor(agreed)

	// Sender: a keepalive, then a mon command as iovecs.
	wire := msgr2.AppendControl(nil, rev, &msgr2.Keepalive2{Stamp: msgr2.UTime{Sec: 1}})
	cmd := &msgr2.MonCommand{Cmd: []string{`{"prefix": "mon stat"}`}}
	h := msgr2.NewMessageHeader(cmd)
	h.Seq = 1
	var mf msgr2.MessageFrame
	mf.Encode(rev, &h, cmd.AppendFront(nil), nil, nil)
	for _, iov := range mf.Iovecs(nil) {
		wire = append(wire, iov...)
	}

	// Receiver: the bytes arrive in two reads of 80 and 118 bytes.
	fmt.Println(rev, len(wire))
	r := msgr2.FrameReader{Rev: rev}
	var buf []byte
	for _, read := range [][]byte{wire[:80], wire[80:]} {
		buf = append(buf, read...)
		for len(buf) > 0 {
			f, n, err := r.Decode(buf)
			if err == msgr2.ErrShort {
				fmt.Printf("need %d more bytes\n", n-len(buf))
				break
			}
			if err != nil {
				panic(err)
			}
			switch f.Tag() {
			case msgr2.TagMessage:
				h, front, middle, data, _ := msgr2.DecodeMessage(&f)
				m, _ := msgr2.DefaultRegistry.Decode(&h, front, middle, data)
				fmt.Println(f.Tag(), h.Type, m.(*msgr2.MonCommand).Cmd[0])
			default:
				p, _ := msgr2.DecodePayload(f.Tag(), f.Payload())
				fmt.Println(f.Tag(), p.(*msgr2.Keepalive2).Stamp.Sec)
			}
			buf = buf[n:]
		}
	}
	// Output:
	// msgr2.1 198
	// KEEPALIVE2 1
	// need 118 more bytes
	// MESSAGE mon_command {"prefix": "mon stat"}
}
