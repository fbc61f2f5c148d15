package monc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// TellOSD sends a command to osd.id, as `ceph tell osd.<id> ...` does: it
// finds the OSD's msgr2 address in the osdmap (the mon command "osd
// find"), connects to it with the client's messenger (with cephx, in
// authorizer mode on the OSD ticket the mon issued), sends an MCommand
// and waits for the reply. The connection stays open for the next
// command to that OSD. A lost connection fails the command (it is not
// sent again: the OSD may have run it).
func (c *Client) TellOSD(ctx context.Context, id int, cmd string) (CommandReply, error) {
	addr, err := c.osdAddr(ctx, id)
	if err != nil {
		return CommandReply{}, err
	}
	cn, err := c.msgr.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		return CommandReply{}, fmt.Errorf("monc: osd.%d: %w", id, err)
	}
	if err := cn.WaitReady(ctx); err != nil {
		return CommandReply{}, fmt.Errorf("monc: osd.%d at %v: %w", id, addr, err)
	}
	c.mu.Lock()
	fsid := c.fsid
	c.mu.Unlock()
	r := c.do(ctx, &call{kind: kindTell, cmd: []string{cmd}, target: cn, fsid: fsid})
	return r.cmd, r.err
}

// osdAddr returns osd.id's msgr2 address from "osd find".
func (c *Client) osdAddr(ctx context.Context, id int) (gomsgr.EntityAddr, error) {
	r, err := c.Command(ctx, fmt.Sprintf(`{"prefix": "osd find", "id": %d, "format": "json"}`, id))
	if err != nil {
		return gomsgr.EntityAddr{}, err
	}
	if err := r.Err(); err != nil {
		return gomsgr.EntityAddr{}, fmt.Errorf("monc: osd find %d: %w", id, err)
	}
	var found struct {
		Addrs struct {
			AddrVec []struct {
				Type  string `json:"type"`
				Addr  string `json:"addr"`
				Nonce uint32 `json:"nonce"`
			} `json:"addrvec"`
		} `json:"addrs"`
	}
	if err := json.Unmarshal(r.Output, &found); err != nil {
		return gomsgr.EntityAddr{}, fmt.Errorf("monc: osd find %d: %w", id, err)
	}
	for _, a := range found.Addrs.AddrVec {
		if a.Type != "v2" {
			continue
		}
		ap, err := netip.ParseAddrPort(a.Addr)
		if err != nil {
			return gomsgr.EntityAddr{}, fmt.Errorf("monc: osd find %d: %w", id, err)
		}
		return gomsgr.EntityAddr{Type: msgr2.AddrMsgr2, Addr: ap, Nonce: a.Nonce}, nil
	}
	return gomsgr.EntityAddr{}, fmt.Errorf("monc: osd.%d has no msgr2 address (is it up?): %s", id, r.Output)
}

// failTellsLocked fails the commands sent on cn, which was lost.
func (c *Client) failTellsLocked(cn gomsgr.Connection, err error) {
	if err == nil {
		err = errors.New("connection reset")
	}
	for tid, cl := range c.calls {
		if cl.kind == kindTell && cl.target == cn {
			delete(c.calls, tid)
			cl.done <- reply{err: fmt.Errorf("monc: connection to %v lost: %w", cn.PeerAddr(), err)}
		}
	}
}
