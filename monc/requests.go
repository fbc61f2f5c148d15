package monc

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

// CommandReply is a mon command's answer (MMonCommandAck): Ceph's rc,
// status string (outs) and output bytes (outbl).
type CommandReply struct {
	// Rc is 0 on success or a negative errno (-EINVAL for an unknown
	// command, -ENOENT for a missing key, ...).
	Rc int32
	// Status is the human-readable status line ("" on many successes).
	Status string
	// Output is the command's output (JSON when the command asked for
	// "format": "json").
	Output []byte
}

// Err returns nil when Rc is 0, or a *CommandError.
func (r *CommandReply) Err() error {
	if r.Rc == 0 {
		return nil
	}
	return &CommandError{Rc: r.Rc, Status: r.Status}
}

// CommandError is a command that the mon answered with a negative rc.
type CommandError struct {
	Rc     int32
	Status string
}

// Error gives the mon's return code, as an errno, and its status text.
func (e *CommandError) Error() string {
	return fmt.Sprintf("monc: mon command failed: %v (rc %d): %s", syscall.Errno(-e.Rc), e.Rc, e.Status)
}

// Unwrap returns the errno, so errors.Is(err, syscall.ENOENT) works.
func (e *CommandError) Unwrap() error { return syscall.Errno(-e.Rc) }

type callKind uint8

const (
	kindCommand callKind = iota
	kindVersion
	kindTell // an MCommand to another daemon (TellOSD), on target
)

// reply is what a waiting request receives.
type reply struct {
	cmd     CommandReply
	version uint64
	oldest  uint64
	err     error
}

// call is one request waiting for its reply. It keeps what it needs to be
// sent again on a newer session.
type call struct {
	tid  uint64
	kind callKind
	cmd  []string
	in   []byte
	what string
	sent gomsgr.Connection // the session it was last sent on
	// target and fsid: a tell's connection (it never moves to the mon's
	// session) and the fsid its MCommand carries.
	target gomsgr.Connection
	fsid   msgr2.UUID
	done   chan reply // buffered: the reply never blocks the worker
}

// Command sends a mon command (one JSON object, such as
// {"prefix": "mon dump", "format": "json"}) and waits for its reply. A
// negative rc is not an error: it is in the reply (see CommandReply.Err).
func (c *Client) Command(ctx context.Context, cmd string) (CommandReply, error) {
	return c.CommandInput(ctx, cmd, nil)
}

// CommandInput is Command with an input buffer (Ceph's inbl), sent as the
// message's data segment without a copy: in must not change until
// CommandInput returns (it may be sent again on a newer session).
func (c *Client) CommandInput(ctx context.Context, cmd string, in []byte) (CommandReply, error) {
	r := c.do(ctx, &call{kind: kindCommand, cmd: []string{cmd}, in: in})
	return r.cmd, r.err
}

// GetVersion asks for the latest and oldest committed versions of a map:
// "osdmap", "monmap", "mdsmap", "fsmap", "mgrmap" (MMonGetVersion).
func (c *Client) GetVersion(ctx context.Context, what string) (version, oldest uint64, err error) {
	r := c.do(ctx, &call{kind: kindVersion, what: what})
	return r.version, r.oldest, r.err
}

// Version returns the mon's version string, as `ceph version` prints it
// ("ceph version 16.2.15 (...) pacific (stable)").
func (c *Client) Version(ctx context.Context) (string, error) {
	r, err := c.Command(ctx, `{"prefix": "version", "format": "json"}`)
	if err != nil {
		return "", err
	}
	if err := r.Err(); err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(r.Output, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("monc: unexpected version output %q", r.Output)
	}
	return v.Version, nil
}

// do registers cl, sends it when a session is there, and waits.
func (c *Client) do(ctx context.Context, cl *call) reply {
	if err := ctx.Err(); err != nil {
		return reply{err: err}
	}
	cl.done = make(chan reply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return reply{err: ErrClosed}
	}
	c.tid++
	cl.tid = c.tid
	c.calls[cl.tid] = cl
	switch {
	case cl.kind == kindTell:
		c.sendTellLocked(cl)
	case c.cur == nil:
		c.armLocked()
		c.ensureSessionLocked()
	default:
		c.armLocked()
		c.sendLocked(cl)
	}
	c.mu.Unlock()
	select {
	case r := <-cl.done:
		return r
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.calls, cl.tid)
		c.mu.Unlock()
		select {
		case r := <-cl.done: // answered meanwhile
			return r
		default:
		}
		return reply{err: ctx.Err()}
	}
}

// flushLocked sends every waiting request not yet sent on the current
// session.
func (c *Client) flushLocked() {
	for _, cl := range c.calls {
		c.sendLocked(cl)
	}
}

// sendLocked sends cl on the current session unless it was sent there
// already, or it is a command and the fsid is not known yet.
func (c *Client) sendLocked(cl *call) {
	cn := c.cur
	if cn == nil || cl.sent == cn || cl.kind == kindTell || (cl.kind == kindCommand && !c.haveFSID) {
		return
	}
	var m *gomsgr.Message
	switch cl.kind {
	case kindCommand:
		m = gomsgr.Encode(&msgr2.MonCommand{
			Paxos: msgr2.PaxosHeader{SessionMon: -1},
			FSID:  c.fsid,
			Cmd:   cl.cmd,
		})
		m.Data = cl.in
	case kindVersion:
		m = gomsgr.Encode(&msgr2.MonGetVersion{Handle: cl.tid, What: cl.what})
	}
	m.Tid = cl.tid
	if err := cn.SendMessage(m); err != nil {
		// The session is closing; its reset event resends on the next.
		return
	}
	if cl.sent != nil {
		c.stats.Resent++
	}
	cl.sent = cn
}

// sendTellLocked sends a tell on its connection; a failure to queue it
// (the connection is closing) fails it at once.
func (c *Client) sendTellLocked(cl *call) {
	m := gomsgr.Encode(&msgr2.Command{FSID: cl.fsid, Cmd: cl.cmd})
	m.Tid = cl.tid
	if err := cl.target.SendMessage(m); err != nil {
		delete(c.calls, cl.tid)
		cl.done <- reply{err: fmt.Errorf("monc: tell: %w", err)}
		return
	}
	cl.sent = cl.target
}

// failAllLocked answers every waiting request with err.
func (c *Client) failAllLocked(err error) {
	for tid, cl := range c.calls {
		delete(c.calls, tid)
		cl.done <- reply{err: err}
	}
}

// complete hands r to the request tid, if it still waits.
func (c *Client) complete(tid uint64, r reply) {
	c.mu.Lock()
	cl := c.calls[tid]
	delete(c.calls, tid)
	c.mu.Unlock()
	if cl != nil {
		cl.done <- r
	}
}

// handleMessage runs on the messenger's worker (fast dispatch).
func (c *Client) handleMessage(m *gomsgr.Message) {
	defer m.Release()
	if m.Type == msgr2.MsgMonMap {
		c.handleMonMap(m.Front)
		return
	}
	p, err := m.Decode(nil)
	if err != nil {
		c.log.Warn("monc: undecodable message from the mon", "type", m.Type, "err", err)
		return
	}
	switch p := p.(type) {
	case *msgr2.MonCommandAck:
		out := append([]byte(nil), p.Output...) // p.Output aliases m's buffer
		c.complete(m.Tid, reply{cmd: CommandReply{Rc: p.Result, Status: p.Status, Output: out}})
	case *msgr2.MonGetVersionReply:
		c.complete(p.Handle, reply{version: p.Version, oldest: p.OldestVersion})
	case *msgr2.MonAuthReply:
		c.handleAuthReply(p)
	case *msgr2.CommandReply:
		out := append([]byte(nil), p.Output...)
		c.complete(m.Tid, reply{cmd: CommandReply{Rc: p.Result, Status: p.Status, Output: out}})
	}
}

func (c *Client) handleMonMap(front []byte) {
	fsid, epoch, err := decodeMonMapHeader(front)
	if err != nil {
		c.log.Warn("monc: bad monmap", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.haveFSID && c.fsid != fsid {
		// Options.FSID names the cluster the caller means: keep it, and
		// the mon answers commands with "wrong fsid".
		c.log.Warn("monc: the mon's fsid differs from Options.FSID", "mon", fsid, "options", c.fsid)
	} else {
		c.fsid, c.haveFSID = fsid, true
	}
	c.monEpoch = epoch
	c.maybeReadyLocked()
	c.flushLocked()
}
