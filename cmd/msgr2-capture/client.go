package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/gomsgr/gomsgr/msgr2"
)

// Feature masks a Ceph 16.2.15 client sends in CLIENT_IDENT (taken from
// the proxy capture): everything it supports, and MSG_ADDR2 required.
const (
	pacificSupported = 4540138314316775423
	pacificRequired  = 1 << 59
)

// recConn records what it reads and writes. A failed record is an error
// of the read or write: a capture with a hole in it is no golden file.
type recConn struct {
	net.Conn
	rx, tx io.Writer
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if _, werr := c.rx.Write(b[:n]); werr != nil && err == nil {
		err = fmt.Errorf("record received bytes: %w", werr)
	}
	return n, err
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if _, werr := c.tx.Write(b[:n]); werr != nil && err == nil {
		err = fmt.Errorf("record sent bytes: %w", werr)
	}
	return n, err
}

// closeJoin closes c and joins its error to *err, for a defer: a capture
// file whose Close fails may have lost its last bytes.
func closeJoin(err *error, c io.Closer) { *err = errors.Join(*err, c.Close()) }

// runClient speaks msgr2 to a mon with this repository's encoder: the
// handshake, a KEEPALIVE2, MMonGetVersion, MPing and MMonCommand, and
// records both directions to <dir>/own[-rev0]-c2s.bin and own[-rev0]-s2c.bin;
// with rev0 it offers no REVISION_1, so the session uses msgr2.0 framing.
func runClient(target, advertised, fsid, dir string, rev0 bool) (err error) {
	var id msgr2.UUID
	if fsid != "" {
		var err error
		if id, err = msgr2.ParseUUID(fsid); err != nil {
			return err
		}
	}
	tgt, err := netip.ParseAddrPort(advertised)
	if err != nil {
		return err
	}
	nc, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return err
	}
	defer closeJoin(&err, nc)
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	prefix := "own"
	local := msgr2.LocalBanner
	if rev0 {
		// Offer no REVISION_1, so the mon falls back to msgr2.0 framing.
		prefix, local = "own-rev0", msgr2.Banner{}
	}
	c2s, err := os.Create(filepath.Join(dir, prefix+"-c2s.bin"))
	if err != nil {
		return err
	}
	defer closeJoin(&err, c2s)
	s2c, err := os.Create(filepath.Join(dir, prefix+"-s2c.bin"))
	if err != nil {
		return err
	}
	defer closeJoin(&err, s2c)
	c := &recConn{Conn: nc, rx: s2c, tx: c2s}

	if _, err := c.Write(msgr2.AppendBanner(nil, local)); err != nil {
		return err
	}
	var buf []byte
	fill := func() error {
		tmp := make([]byte, 64<<10)
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		return err
	}
	var peer msgr2.Banner
	for {
		b, n, err := msgr2.ParseBanner(buf)
		if err == msgr2.ErrShort {
			if err := fill(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		peer, buf = b, buf[n:]
		break
	}
	agreed, err := msgr2.Negotiate(local, peer)
	if err != nil {
		return err
	}
	rev := msgr2.RevisionFor(agreed)
	fmt.Println("peer banner", peer.Supported, peer.Required, "->", rev)
	r := msgr2.FrameReader{Rev: rev}
	next := func() (msgr2.Frame, error) {
		for {
			f, n, err := r.Decode(buf)
			if err == msgr2.ErrShort {
				if err := fill(); err != nil {
					return f, err
				}
				continue
			}
			if err != nil {
				return f, err
			}
			// Copy out: the frame aliases buf, which the next fill may move.
			raw := append([]byte(nil), buf[:n]...)
			buf = buf[n:]
			f, _, err = r.Decode(raw)
			return f, err
		}
	}
	send := func(p msgr2.Payload) error {
		_, err := c.Write(msgr2.AppendControl(nil, rev, p))
		return err
	}
	expect := func(tag msgr2.Tag) (msgr2.Frame, error) {
		f, err := next()
		if err == nil && f.Tag() != tag {
			err = fmt.Errorf("got %v, want %v", f.Tag(), tag)
		}
		return f, err
	}

	target2 := msgr2.EntityAddr{Type: msgr2.AddrMsgr2, Addr: tgt}
	if err := send(&msgr2.Hello{EntityType: msgr2.EntityClient, PeerAddr: target2}); err != nil {
		return err
	}
	if _, err := expect(msgr2.TagHello); err != nil {
		return err
	}
	mar := msgr2.MonAuthRequest{Name: msgr2.AuthName{Type: msgr2.EntityClient, ID: "admin"}}
	if err := send(&msgr2.AuthRequest{Method: msgr2.AuthNone, PreferredModes: []msgr2.ConMode{msgr2.ConModeCRC}, Payload: mar.Append(nil)}); err != nil {
		return err
	}
	if _, err := expect(msgr2.TagAuthDone); err != nil {
		return err
	}
	if err := send(&msgr2.AuthSignature{Signature: msgr2.Signature(nil, nil)}); err != nil {
		return err
	}
	if _, err := expect(msgr2.TagAuthSignature); err != nil {
		return err
	}
	me := msgr2.EntityAddr{Type: msgr2.AddrAny, Nonce: 12345, Addr: netip.AddrPortFrom(tgt.Addr(), 0)}
	if err := send(&msgr2.ClientIdent{Addrs: msgr2.AddrVec{me}, TargetAddr: target2, GlobalID: -1, GlobalSeq: 1,
		SupportedFeatures: pacificSupported, RequiredFeatures: pacificRequired, Flags: msgr2.IdentLossy}); err != nil {
		return err
	}
	if _, err := expect(msgr2.TagServerIdent); err != nil {
		return err
	}
	if err := send(&msgr2.Keepalive2{Stamp: msgr2.UTime{Sec: 1764000000, Nsec: 5}}); err != nil {
		return err
	}
	var seq uint64
	sendMsg := func(m msgr2.Message, tid uint64) error {
		seq++
		h := msgr2.NewMessageHeader(m)
		h.Seq, h.Tid = seq, tid
		var data []byte
		if dc, ok := m.(msgr2.DataCarrier); ok {
			data = dc.DataSegment()
		}
		var mf msgr2.MessageFrame
		mf.Encode(rev, &h, m.AppendFront(nil), nil, data)
		bufs := net.Buffers(mf.Iovecs(nil))
		_, err = bufs.WriteTo(c)
		return err
	}
	if err := sendMsg(&msgr2.MonGetVersion{Handle: 1, What: "osdmap"}, 0); err != nil {
		return err
	}
	if err := sendMsg(&msgr2.Ping{}, 0); err != nil {
		return err
	}
	if err := sendMsg(&msgr2.MonCommand{Paxos: msgr2.PaxosHeader{SessionMon: -1}, FSID: id, Cmd: []string{`{"prefix": "mon stat"}`}}, 1); err != nil {
		return err
	}
	var gotVersion, gotAck, gotKeepalive bool
	for !gotVersion || !gotAck || !gotKeepalive {
		f, err := next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		switch f.Tag() {
		case msgr2.TagKeepalive2Ack:
			gotKeepalive = true
		case msgr2.TagMessage:
			h, front, middle, data, err := msgr2.DecodeMessage(&f)
			if err != nil {
				return err
			}
			fmt.Printf("message %+v front %d data %d\n", h, len(front), len(data))
			if err := send(&msgr2.Ack{Seq: h.Seq}); err != nil {
				return err
			}
			switch h.Type {
			case msgr2.MsgMonGetVersionReply:
				gotVersion = true
			case msgr2.MsgMonCommandAck:
				gotAck = true
			}
			if m, err := msgr2.DefaultRegistry.Decode(&h, front, middle, data); err == nil {
				fmt.Printf("  %+v\n", m)
			}
		default:
			fmt.Println("frame", f.Tag())
		}
	}
	fmt.Println("version reply:", gotVersion, "command ack:", gotAck, "keepalive ack:", gotKeepalive)
	return nil
}
