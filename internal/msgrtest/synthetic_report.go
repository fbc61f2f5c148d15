package msgrtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr/internal/leakcheck"
)

// pendingReportLocked lists the connections with messages awaiting a PONG:
// the client's view of the connection and the server's connections.
func (w *synWorkload) pendingReportLocked() string {
	var b strings.Builder
	now := time.Now()
	shown := 0
	for _, sc := range w.all {
		n := len(sc.pend[0]) + len(sc.pend[1])
		if n == 0 {
			continue
		}
		if shown++; shown > 12 {
			fmt.Fprintf(&b, "  ... more connections\n")
			break
		}
		oldest := now
		for _, q := range sc.pend {
			if len(q) > 0 && q[0].sent.Before(oldest) {
				oldest = q[0].sent
			}
		}
		fmt.Fprintf(&b, "  conn #%d (%p) %s -> %s (server %d): %d pending, oldest %v ago; sent %d, ponged %d; "+
			"state=%s connected=%v out_queue=%d unacked=%d err=%v; seqs default=%v highest=%v\n",
			sc.id, sc.c, w.clients[sc.cli].Name(), w.srvAddrs[sc.srv], sc.srv, n, now.Sub(oldest).Round(time.Millisecond),
			sc.sent, sc.ponged, sc.c.State(), sc.c.IsConnected(), sc.c.QueueLen(), sc.c.Unacked(), sc.c.Err(),
			synSeqs(sc.pend[0], 10), synSeqs(sc.pend[1], 10))
		cliName := w.clients[sc.cli].Name().String()
		cd, sd := synDumpOf(w.clients[sc.cli]), synDumpOf(w.servers[sc.srv])
		ccur, cmax := w.clients[sc.cli].DispatchThrottleBytes()
		scur, smax := w.servers[sc.srv].DispatchThrottleBytes()
		fmt.Fprintf(&b, "    client %s nonce %d dispatch_queue=%d dispatch_throttle=%d/%d; server dispatch_queue=%d dispatch_throttle=%d/%d\n",
			cliName, cd.Nonce, cd.DispatchQueue, ccur, cmax, sd.DispatchQueue, scur, smax)
		for _, cd := range sd.Connections {
			if cd.PeerName == cliName || cd.PeerName == "" || cd.Registry != "conns" {
				fmt.Fprintf(&b, "    server side: peer=%s name=%s role=%s state=%s out_queue=%d unacked=%d registry=%s\n",
					cd.Peer, cd.PeerName, cd.Role, cd.State, cd.OutQueue, cd.Unacked, cd.Registry)
			}
		}
		for i, l := range synSockets(w.srvAddrs[sc.srv].Addr.Port()) {
			if i == 24 {
				fmt.Fprintf(&b, "    socket: ... more\n")
				break
			}
			fmt.Fprintf(&b, "    socket: %s\n", l)
		}
		for _, l := range w.ring.grep(50, "msgr="+cliName+" ", w.srvAddrs[sc.srv].String(), fmt.Sprintf("conn=%d ", sc.id)) {
			fmt.Fprintf(&b, "    log: %s", l)
		}
	}
	return b.String()
}

// synClient is a client messenger's dispatcher: it checks PONGs and
// forgives on session resets.
// synSockets lists this process's TCP sockets to or from port (from
// /proc/net/tcp): local and remote port, state, send and receive queue
// bytes, and the fd holding each (none: not open in this process).
func synSockets(port uint16) []string {
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return []string{err.Error()}
	}
	fds := map[string]string{}
	polled := map[string][]string{} // fd -> "epoll fd: events"
	for fd, target := range leakcheck.OpenFds(nopTB{}) {
		if strings.HasPrefix(target, "socket:[") {
			fds[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = strconv.Itoa(fd)
		}
		if target == "anon_inode:[eventpoll]" {
			info, _ := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
			for _, l := range strings.Split(string(info), "\n") {
				// tfd:       42 events:       19 data: ...
				if f := strings.Fields(l); len(f) >= 4 && f[0] == "tfd:" && f[2] == "events:" {
					polled[f[1]] = append(polled[f[1]], fmt.Sprintf("epoll%d:%s", fd, f[3]))
				}
			}
		}
	}
	states := map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
		"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	var out []string
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		lp, rp := synHexPort(f[1]), synHexPort(f[2])
		if lp != port && rp != port || f[3] == "06" || f[3] == "0A" {
			continue
		}
		tx, rx, _ := strings.Cut(f[4], ":")
		txn, _ := strconv.ParseUint(tx, 16, 64)
		rxn, _ := strconv.ParseUint(rx, 16, 64)
		fd := fds[f[9]]
		if fd == "" {
			fd = "none"
		}
		out = append(out, fmt.Sprintf("%d->%d %s sendq=%d recvq=%d fd=%s polled=%v", lp, rp, states[f[3]], txn, rxn, fd, polled[fd]))
	}
	slices.Sort(out)
	return out
}

// synLeakedSockets describes the sockets open now that were not in before
// (after a shutdown: leaked), with their ports and TCP state.
func synLeakedSockets(before map[int]string) []string {
	var out []string
	for attempt := 0; attempt < 20; attempt++ { // closes may still be in flight
		out = out[:0]
		tcp := synTCPByInode()
		for fd, target := range leakcheck.OpenFds(nopTB{}) {
			if before[fd] == target || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			ino := strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
			out = append(out, fmt.Sprintf("fd %d: %s", fd, tcp[ino]))
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(out)
	return out
}

// synTCPByInode maps socket inodes to "local->remote STATE" from
// /proc/net/tcp.
func synTCPByInode() map[string]string {
	m := map[string]string{}
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		m[f[9]] = fmt.Sprintf("port %d -> port %d state %s", synHexPort(f[1]), synHexPort(f[2]), f[3])
	}
	return m
}

func synHexPort(a string) uint16 {
	_, ps, _ := strings.Cut(a, ":")
	n, _ := strconv.ParseUint(ps, 16, 16)
	return uint16(n)
}

func (w *synWorkload) clientAddrs() []string {
	var out []string
	for _, c := range w.clients {
		if a := c.Addrs(); len(a) > 0 {
			out = append(out, a[0].String())
		}
	}
	return out
}

// nopTB lets leakcheck.OpenFds run outside a test's goroutine.
type nopTB struct{ testing.TB }

func (nopTB) Helper()               {}
func (nopTB) Fatalf(string, ...any) {}

// synRing keeps the last lines of the debug log (one slog record per
// Write) for the failure report.
type synRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newSynRing(n int) *synRing { return &synRing{lines: make([]string, n)} }

func (r *synRing) Write(p []byte) (int, error) {
	s := string(p)
	r.mu.Lock()
	r.lines[r.next] = s
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
	return len(p), nil
}

func (r *synRing) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.lines[:r.next])
	}
	return append(slices.Clone(r.lines[r.next:]), r.lines[:r.next]...)
}

// grep returns the last n lines that contain all of the first two
// substrings, or the third.
func (r *synRing) grep(n int, who, peer, alt string) []string {
	var out []string
	for _, l := range r.snapshot() {
		if (strings.Contains(l, who) && strings.Contains(l, peer)) || strings.Contains(l, alt) {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (r *synRing) dumpFile(name string) (string, error) {
	f, err := os.CreateTemp("", "synthetic-"+name+"-*.log")
	if err != nil {
		return "", err
	}
	for _, l := range r.snapshot() {
		if _, err := f.WriteString(l); err != nil {
			_ = f.Close() // the write's error says it
			return "", err
		}
	}
	return f.Name(), f.Close()
}

// synDump is the part of a messenger's dump (gomsgr.Dump, whichever messenger: the
// same JSON field names) the reports show.
type synDump struct {
	Nonce         uint32 `json:"nonce"`
	DispatchQueue int    `json:"dispatch_queue_len"`
	Connections   []struct {
		Peer     string `json:"peer_addr"`
		PeerName string `json:"peer_name"`
		Role     string `json:"role"`
		State    string `json:"state"`
		OutQueue int    `json:"out_queue_len"`
		Unacked  int    `json:"unacked"`
		Registry string `json:"registry"`
	} `json:"connections"`
}

// synDumpOf returns m's dump (empty if it cannot be read: a report only).
func synDumpOf(m synMsgr) synDump {
	var b bytes.Buffer
	var d synDump
	if m.WriteDumpJSON(&b) == nil {
		_ = json.Unmarshal(b.Bytes(), &d) // best effort: the report shows what decoded
	}
	return d
}
