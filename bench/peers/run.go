package peers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/bench/echo"
)

// Kind is what a case measures.
type Kind int

// The kinds of case.
const (
	PingPong  Kind = iota // one message at a time per connection: latency
	Pipelined             // InFlight messages outstanding per connection: throughput
	Idle                  // IdleConns idle connections, then Conns active ones: memory and tail latency
)

// Case is one workload.
type Case struct {
	Name     string
	Kind     Kind
	Conns    int
	InFlight int
	Size     int
}

// Cases are the workloads of issue 8, in table order. The idle case's
// connection count is Options.IdleConns.
var Cases = []Case{
	{Name: "pingpong-1c-64B", Kind: PingPong, Conns: 1, Size: 64},
	{Name: "pingpong-64c-64B", Kind: PingPong, Conns: 64, Size: 64},
	{Name: "pipelined-16c32-64B", Kind: Pipelined, Conns: 16, InFlight: 32, Size: 64},
	{Name: "pipelined-16c32-4KiB", Kind: Pipelined, Conns: 16, InFlight: 32, Size: 4 << 10},
	{Name: "pipelined-16c32-64KiB", Kind: Pipelined, Conns: 16, InFlight: 32, Size: 64 << 10},
	{Name: "idle-4c-64B", Kind: Idle, Conns: 4, Size: 64},
}

// Options configures Run.
type Options struct {
	Exe       string        // this binary, run as `Exe server ...` for each server
	ServerCPU int           // CPU of the server processes (-1: not pinned)
	Duration  time.Duration // measured part of each case in each round
	Rounds    int           // rounds (see Run)
	Timeout   time.Duration // a case still running after it is stopped (its server killed)
	Warm      time.Duration // unmeasured start of each case
	IdleConns int           // idle connections of the idle case
	Impls     func(proto, impl string) bool
	Cases     func(Case) bool
	Progress  io.Writer
}

// Result is one (server, case) measurement.
type Result struct {
	Proto, Impl, Case string
	Kind              Kind
	Size              int
	Msgs              int64
	Elapsed           time.Duration
	MsgsPerS, MBPerS  float64 // MB/s: one direction's payload, 1e6 bytes
	P50, P90, P99     time.Duration
	P999, Max         time.Duration
	RTTs              []time.Duration `json:"-"` // sorted; kept for the 1-connection CDF
	RSSBefore         int64           // server VmRSS, bytes (idle case)
	RSSAfter          int64
	RSSPerConn        float64
	Rounds            int
	Idle, Failed      int // idle links open; links whose first round trip failed (closed, not counted)
	Err               string
}

// Run runs every selected case against every selected server, one server
// process per (server, case, round). Rounds interleave: each round runs
// every case against every server, case by case, so that the servers of a
// case are measured close together in time and noise from other work on the
// machine spreads over all of them; a case's rounds are then merged (round
// trips pooled, messages and time summed). The idle case runs in the first
// round only.
func Run(o Options) []Result {
	type key struct{ proto, impl, cs string }
	merged := map[key]*Result{}
	rounds := max(o.Rounds, 1)
	for round := 0; round < rounds; round++ {
		for _, cs := range Cases {
			if (o.Cases != nil && !o.Cases(cs)) || (cs.Kind == Idle && round > 0) {
				continue
			}
			for _, proto := range []string{"echo", "msgr2"} {
				impls := EchoImpls
				if proto == "msgr2" {
					impls = Msgr2Impls
				}
				for _, impl := range impls {
					if o.Impls != nil && !o.Impls(proto, impl) {
						continue
					}
					r := runCase(o, proto, impl, cs)
					if o.Progress != nil {
						fmt.Fprintf(o.Progress, "round %d/%d %s\n", round+1, rounds, r.Summary())
					}
					k := key{proto, impl, cs.Name}
					if m := merged[k]; m == nil {
						merged[k] = &r
					} else {
						m.merge(r)
					}
				}
			}
		}
	}
	// Table order: protocol, server, case.
	var out []Result
	for _, proto := range []string{"echo", "msgr2"} {
		for _, impl := range append(append([]string{}, EchoImpls...), Msgr2Impls...) {
			for _, cs := range Cases {
				if r := merged[key{proto, impl, cs.Name}]; r != nil {
					r.finish(cs)
					out = append(out, *r)
				}
			}
		}
	}
	return out
}

// merge adds round r's figures to m; a failed round fails the case.
func (m *Result) merge(r Result) {
	if m.Err != "" {
		return
	}
	if r.Err != "" {
		m.Err = r.Err
		return
	}
	m.Msgs += r.Msgs
	m.Elapsed += r.Elapsed
	m.RTTs = append(m.RTTs, r.RTTs...)
	m.Rounds++
}

// finish computes the rates and percentiles of a merged result and keeps
// the round trips only for the 1-connection case's CDF.
func (r *Result) finish(cs Case) {
	if r.Err != "" || r.Elapsed <= 0 {
		r.RTTs = nil
		return
	}
	r.MsgsPerS = float64(r.Msgs) / r.Elapsed.Seconds()
	r.MBPerS = r.MsgsPerS * float64(cs.Size) / 1e6
	if len(r.RTTs) > 0 {
		slices.Sort(r.RTTs)
		r.P50, r.P90, r.P99 = pct(r.RTTs, 50), pct(r.RTTs, 90), pct(r.RTTs, 99)
		r.P999, r.Max = pct(r.RTTs, 99.9), pct(r.RTTs, 100)
	}
	if cs.Kind != PingPong || cs.Conns != 1 {
		r.RTTs = nil
	}
}

// Summary is a one-line account of r.
func (r Result) Summary() string {
	s := fmt.Sprintf("%-6s %-20s %-22s", r.Proto, r.Impl, r.Case)
	if r.Err != "" {
		return s + " ERROR " + r.Err
	}
	s += fmt.Sprintf(" %10.0f msg/s %8.1f MB/s", r.MsgsPerS, r.MBPerS)
	if r.P50 > 0 {
		s += fmt.Sprintf(" p50 %v p99 %v", r.P50, r.P99)
	}
	if r.RSSPerConn != 0 {
		s += fmt.Sprintf(" rss/conn %.0f B", r.RSSPerConn)
	}
	if r.Failed > 0 {
		s += fmt.Sprintf(" (%d links failed their first round trip)", r.Failed)
	}
	return s
}

func runCase(o Options, proto, impl string, cs Case) Result {
	r := Result{Proto: proto, Impl: impl, Case: cs.Name, Kind: cs.Kind, Size: cs.Size, Rounds: 1}
	var srv atomic.Pointer[child]
	done := make(chan error, 1)
	go func() { done <- measure(o, proto, impl, cs, &r, &srv) }()
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		// Killing the server breaks every connection, which ends the
		// load generator's goroutines.
		if c := srv.Load(); c != nil {
			_ = c.cmd.Process.Kill() // fails only if it exited already, which ends the case too
		}
		var derr error // what the load generator saw after the kill
		select {
		case derr = <-done:
		case <-time.After(15 * time.Second):
			// Still stuck: give up on it (its goroutines leak) and
			// report a copy, not r, which it may still write.
			return Result{Proto: proto, Impl: impl, Case: cs.Name, Kind: cs.Kind, Size: cs.Size,
				Err: fmt.Sprintf("did not finish in %v", timeout)}
		}
		err = errors.Join(fmt.Errorf("did not finish in %v; server killed", timeout), derr)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func measure(o Options, proto, impl string, cs Case, r *Result, cur *atomic.Pointer[child]) (err error) {
	srv, err := startChild(o.Exe, impl, proto, o.ServerCPU)
	if err != nil {
		return err
	}
	cur.Store(srv)
	defer func() { err = errors.Join(err, srv.stop()) }()
	cl, err := newClient(proto, srv.addr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.close()) }()
	links, _, err := openLinks(cl, cs.Conns, cs.Size, cs.InFlight, 0)
	if err != nil {
		return err
	}
	defer closeLinks(links)
	switch cs.Kind {
	case PingPong, Idle:
		var idle []link
		if cs.Kind == Idle {
			// Warm the active links first, so that "before" includes the
			// server's steady-state heap.
			if _, _, err := pingPong(links, 0, o.Warm); err != nil {
				return err
			}
			if r.RSSBefore, err = srv.rss(); err != nil {
				return err
			}
			// A link whose first round trip fails is counted and left
			// out (up to 1%), so that one stuck session does not void
			// the case; the report shows the count.
			if idle, r.Failed, err = openLinks(cl, o.IdleConns, cs.Size, 1, o.IdleConns/100); err != nil {
				return fmt.Errorf("opening %d idle connections: %w", o.IdleConns, err)
			}
			defer closeLinks(idle)
			time.Sleep(200 * time.Millisecond)
			if r.RSSAfter, err = srv.rss(); err != nil {
				return err
			}
			r.Idle = len(idle)
			r.RSSPerConn = float64(r.RSSAfter-r.RSSBefore) / float64(max(len(idle), 1))
		}
		rtts, el, err := pingPong(links, o.Warm, o.Duration)
		if err != nil {
			return err
		}
		r.Msgs, r.Elapsed, r.RTTs = int64(len(rtts)), el, rtts
		r.P50, r.P99 = pct(rtts, 50), pct(rtts, 99) // this round's, for the progress line
	case Pipelined:
		n, el, err := pipelined(links, cs.InFlight, o.Warm, o.Duration)
		if err != nil {
			return err
		}
		r.Msgs, r.Elapsed = n, el
	}
	if r.Elapsed > 0 { // this round's, for the progress line
		r.MsgsPerS = float64(r.Msgs) / r.Elapsed.Seconds()
		r.MBPerS = r.MsgsPerS * float64(cs.Size) / 1e6
	}
	return nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// child is a server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	addr  string
}

// startChild runs `exe server -impl impl -proto proto` pinned to cpu (when
// cpu >= 0 and taskset exists) with GOMAXPROCS=1, and reads its address.
func startChild(exe, impl, proto string, cpu int) (*child, error) {
	args := []string{exe, "server", "-impl", impl, "-proto", proto, "-addr", "127.0.0.1:0"}
	if cpu >= 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{ts, "-c", strconv.Itoa(cpu)}, args...)
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := c.out.ReadString('\n')
	if err != nil {
		// Its exit status would only say it was killed (or had exited).
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("server %s/%s gave no address: %w", proto, impl, err)
	}
	c.addr = strings.TrimSpace(line)
	return c, nil
}

// rss asks the server for its VmRSS.
func (c *child) rss() (int64, error) {
	if _, err := io.WriteString(c.stdin, "rss\n"); err != nil {
		return 0, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return 0, err
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "rss" {
		return 0, fmt.Errorf("server answered %q to rss", line)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

func (c *child) stop() error {
	cerr := c.stdin.Close() // the child's signal to stop
	done := make(chan error, 1)
	go func() {
		// Drain until the child exits: Wait tells how it ended.
		_, _ = io.Copy(io.Discard, c.out)
		done <- c.cmd.Wait()
	}()
	select {
	case err := <-done:
		return errors.Join(cerr, err)
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill() // fails only if it has just exited; Wait (in done) reports either way
		return errors.Join(cerr, <-done)
	}
}

// ServeChild is the body of `peerbench server`: serve, print the address,
// answer "rss" lines with "rss BYTES", and exit when stdin closes.
func ServeChild(impl, proto, addr string, stdin io.Reader, stdout io.Writer) error {
	if _, err := RaiseNoFile(); err != nil {
		return err
	}
	s, err := Serve(impl, proto, addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s.Addr)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if sc.Text() == "rss" {
			n, err := RSS()
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "rss", n)
		}
	}
	// The process exits next; a server that does not stop at once is not
	// waited for.
	done := make(chan error, 1)
	go func() { done <- s.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			// Said, not fatal: the figures are taken, and an exit status
			// would turn them into a failed case.
			fmt.Fprintf(os.Stderr, "peerbench server %s/%s: stop: %v\n", proto, impl, err)
		}
	case <-time.After(2 * time.Second):
	}
	return nil
}

// RSS returns this process's VmRSS in bytes.
func RSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit.
func RaiseNoFile() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	return rl.Cur, unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
}

// PinSelf restricts every thread of this process to cpu
// (bench/echo.PinSelf) and sets GOMAXPROCS to 1.
func PinSelf(cpu int) error {
	if err := echo.PinSelf(cpu); err != nil {
		return err
	}
	runtime.GOMAXPROCS(1)
	return nil
}
