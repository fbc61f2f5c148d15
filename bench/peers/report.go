package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Meta describes the run for the report.
type Meta struct {
	Start              time.Time
	Took               time.Duration
	Duration, Warm     time.Duration
	Rounds             int
	IdleConns          int
	ServerCPU          int
	LoadBefore, LoadAt string
	Kernel, CPU, GoVer string
	Rev                string // the gomsgr tree measured

	busy0      float64 // machine busy CPU-seconds at Start (/proc/stat)
	OthersCPU  float64 // CPU-seconds used by processes other than the run's
	MachineCPU float64 // CPU-seconds available during the run
}

// busySeconds returns the machine's busy CPU time (all but idle and
// iowait) from /proc/stat, or 0 when it cannot be read.
func busySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		var n float64
		if _, err := fmt.Sscan(v, &n); err != nil {
			return 0
		}
		busy += n
	}
	return busy / 100 // USER_HZ
}

// ownSeconds is the CPU time of this process and its waited-for children,
// or 0 when it cannot be read (as busySeconds).
func ownSeconds() float64 {
	var self, kids unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &self); err != nil {
		return 0
	}
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &kids); err != nil {
		return 0
	}
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// NewMeta records the machine and settings at the start of a run.
func NewMeta(d, warm time.Duration, idle, serverCPU, rounds int) *Meta {
	m := &Meta{Start: time.Now().UTC(), Duration: d, Warm: warm, IdleConns: idle, ServerCPU: serverCPU, Rounds: max(rounds, 1),
		LoadBefore: loadavg(), GoVer: runtime.Version(), busy0: busySeconds() - ownSeconds()}
	if b, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

// Finish records the end of the run.
func (m *Meta) Finish(start time.Time) {
	took := time.Since(start)
	m.Took = took.Round(time.Second)
	m.LoadAt = loadavg()
	m.OthersCPU = max(0, busySeconds()-ownSeconds()-m.busy0)
	m.MachineCPU = took.Seconds() * float64(runtime.NumCPU())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// table indexes results by proto, impl and case.
type table map[[3]string]*Result

func index(rs []Result) table {
	t := table{}
	for i := range rs {
		t[[3]string{rs[i].Proto, rs[i].Impl, rs[i].Case}] = &rs[i]
	}
	return t
}

func (t table) get(proto, impl, cs string) *Result {
	r := t[[3]string{proto, impl, cs}]
	if r == nil || r.Err != "" {
		return nil
	}
	return r
}

// keptHeading starts the part of RESULTS.md a run does not write and keeps:
// measured figures moved there from doc comments (which keep the reason),
// the before/after tables of changes, written by hand.
const keptHeading = "\n## Figures moved from doc comments"

// keptSections returns the hand-written tail of the report at path (from
// keptHeading on), or "".
func keptSections(path string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if i := strings.Index(string(old), keptHeading); i >= 0 {
		return string(old[i:])
	}
	return ""
}

// WriteReport writes dir/RESULTS.md and the plots; the hand-written
// sections at the end of an existing RESULTS.md (keptHeading) are kept.
func WriteReport(dir string, rs []Result, m *Meta) error {
	var b strings.Builder
	t := index(rs)
	fmt.Fprintf(&b, "# Comparison harness results\n\n")
	fmt.Fprintf(&b, "Written by `cd bench/peers && go run ./cmd/peerbench run` (package `bench/peers`, its own module). ")
	fmt.Fprintf(&b, "Every server runs in its own process")
	if m.ServerCPU >= 0 {
		fmt.Fprintf(&b, " pinned to CPU %d with GOMAXPROCS=1; the load generator (one plain Go client for every server: a blocking `net.Conn` per connection, a writer and a reader goroutine per connection when pipelined; for msgr2 the `simple` messenger) is pinned to CPU 0 with GOMAXPROCS=1", m.ServerCPU)
	}
	fmt.Fprintf(&b, ". \n\n")
	fmt.Fprintf(&b, "- Run: %s, %v in all. %d rounds; each round runs every case against every server, case by case, each time in a new server process, %v measured after %v warm-up; a case's rounds are pooled (round trips merged, messages and time summed). The idle case runs in the first round only.\n", m.Start.Format("2006-01-02 15:04 UTC"), m.Took, m.Rounds, m.Duration, m.Warm)
	if m.Rev != "" {
		fmt.Fprintf(&b, "- gomsgr tree: %s.\n", m.Rev)
	}
	fmt.Fprintf(&b, "- Machine: %s, %d CPUs, %s, %s.\n", m.CPU, runtime.NumCPU(), m.Kernel, m.GoVer)
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) before the run: %s; after: %s. The run itself keeps both CPUs busy (load ≈ 2 from the run alone). Other processes used %.0f CPU-seconds of the %.0f available during the run (%.0f%%; /proc/stat busy time minus this process and its server children). The machine is shared with other engineers' builds and tests: absolute numbers vary by ±30%% between runs; compare within one run.\n", m.LoadBefore, m.LoadAt, m.OthersCPU, m.MachineCPU, 100*m.OthersCPU/max(m.MachineCPU, 1))
	fmt.Fprintf(&b, "- Echo protocol: a 4-byte big-endian length and the payload; every server echoes the bytes it reads (no server parses the frames; the client checks the length). msgr2: crc mode, auth none, a fast dispatcher on the server that answers each MESSAGE with one of the same data size.\n")
	fmt.Fprintf(&b, "- `gomsgr-DRIVER-WAIT` is an echo server on `center.Stack` (1 worker, default 50µs spin) (`bench/echo.Server` with `SharedReadBuffer`, wrapped by `bench/peers/loopecho.go`): one read buffer per worker, a connection holds memory only for a reply the kernel did not take. `bench-echo-epoll-poller` is the repo's `bench/echo.Server` (the one `gomsgr-perf local` measures: a 64 KiB buffer per connection), for comparison; it is not counted as \"gomsgr\" in the targets. `uring-completion` is `bench/echo.CompletionServer`, the experimental io_uring completion mode (multishot accept and receive into provided buffers, each buffer sent back as it is; one goroutine on a locked thread): not counted either (it is not the messenger). `conn-DRIVER` is the event-loop messenger (1 worker, poller wait), `conn-uring-thread` the same on a locked thread (io_uring with COOP_TASKRUN), `conn-uring-completion` the messenger in io_uring completion mode (`center.IOCompletion`), `simple` the goroutine-per-connection messenger.\n\n")

	ratios := func(proto, base string) {
		impls := EchoImpls
		if proto == "msgr2" {
			impls = Msgr2Impls
		}
		fmt.Fprintf(&b, "| server | 1c p50 µs | 1c p99 µs | 64c msgs/s | 64c p99 µs | pipelined 64 B msgs/s | 4 KiB MB/s | 64 KiB MB/s | idle RSS B/conn | idle-case active p99 µs |\n")
		fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|\n")
		for _, impl := range impls {
			ran := false
			for _, cs := range Cases {
				ran = ran || t[[3]string{proto, impl, cs.Name}] != nil
			}
			if !ran {
				continue
			}
			cells := []string{"`" + impl + "`"}
			cell := func(cs string, f func(*Result) float64, format string, lowerBetter bool) {
				r := t.get(proto, impl, cs)
				if r == nil {
					e := "—"
					if x := t[[3]string{proto, impl, cs}]; x != nil && x.Err != "" {
						e = "error"
					}
					cells = append(cells, e)
					return
				}
				v := f(r)
				s := fmt.Sprintf(format, v)
				if br := t.get(proto, base, cs); br != nil && impl != base && f(br) > 0 {
					s += fmt.Sprintf(" (%.2f×)", v/f(br))
				}
				cells = append(cells, s)
			}
			us := func(d func(*Result) time.Duration) func(*Result) float64 {
				return func(r *Result) float64 { return float64(d(r)) / 1e3 }
			}
			cell("pingpong-1c-64B", us(func(r *Result) time.Duration { return r.P50 }), "%.1f", true)
			cell("pingpong-1c-64B", us(func(r *Result) time.Duration { return r.P99 }), "%.1f", true)
			cell("pingpong-64c-64B", func(r *Result) float64 { return r.MsgsPerS }, "%.0f", false)
			cell("pingpong-64c-64B", us(func(r *Result) time.Duration { return r.P99 }), "%.0f", true)
			cell("pipelined-16c32-64B", func(r *Result) float64 { return r.MsgsPerS }, "%.0f", false)
			cell("pipelined-16c32-4KiB", func(r *Result) float64 { return r.MBPerS }, "%.0f", false)
			cell("pipelined-16c32-64KiB", func(r *Result) float64 { return r.MBPerS }, "%.0f", false)
			cell("idle-4c-64B", func(r *Result) float64 { return r.RSSPerConn }, "%.0f", true)
			cell("idle-4c-64B", us(func(r *Result) time.Duration { return r.P99 }), "%.0f", true)
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Length-prefixed echo (ratios to `std`)\n\n")
	ratios("echo", "std")
	fmt.Fprintf(&b, "## msgr2 messenger echo (ratios to `simple`)\n\n")
	ratios("msgr2", "simple")
	fmt.Fprintf(&b, "Cases: `1c` one connection ping-pong, 64 B; `64c` 64 connections ping-pong, 64 B; pipelined: 16 connections × 32 messages in flight (MB/s counts one direction's payload, 10⁶ B); idle: %d idle connections (each made one 64 B round trip when opened) plus 4 active ones ping-ponging 64 B; RSS per connection is the server's VmRSS after opening them minus before, divided by their number.\n\n", m.IdleConns)

	b.WriteString(targets(t))

	plots, err := writePlots(dir, rs)
	if err != nil {
		fmt.Fprintf(&b, "Plots failed: %v\n\n", err)
	}
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, filepath.Ext(p)), p)
	}
	var errs []string
	for _, r := range rs {
		if r.Err != "" {
			errs = append(errs, fmt.Sprintf("- %s `%s` %s: %s", r.Proto, r.Impl, r.Case, r.Err))
		}
	}
	for _, r := range rs {
		if r.Failed > 0 {
			errs = append(errs, fmt.Sprintf("- %s `%s` %s: %d of %d links got no echo of their first message within 10 s; they were closed and left out (%d idle links measured)", r.Proto, r.Impl, r.Case, r.Failed, r.Idle+r.Failed, r.Idle))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "## Errors and failed links\n\n%s\n\n", strings.Join(errs, "\n"))
	}
	fmt.Fprintf(&b, "## All results\n\n| proto | server | case | msgs | msgs/s | MB/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | RSS before KiB | RSS after KiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != "" {
			continue
		}
		lat := func(d time.Duration) string {
			if d == 0 {
				return ""
			}
			return fmt.Sprintf("%.1f", float64(d)/1e3)
		}
		kib := func(n int64) string {
			if n == 0 {
				return ""
			}
			return fmt.Sprint(n >> 10)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %.0f | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", r.Proto, r.Impl, r.Case, r.Msgs, r.MsgsPerS, r.MBPerS,
			lat(r.P50), lat(r.P90), lat(r.P99), lat(r.P999), lat(r.Max), kib(r.RSSBefore), kib(r.RSSAfter))
	}
	path := filepath.Join(dir, "RESULTS.md")
	b.WriteString(keptSections(path))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// targets checks issue 8's targets (docs/ARCHITECTURE.md, "Tests and
// targets") for the event-loop echo servers against std and the peers.
func targets(t table) string {
	var b strings.Builder
	b.WriteString("## Targets (issue 8)\n\n")
	b.WriteString("| target | best gomsgr | best of std/gnet/netpoll/nbio | verdict |\n|---|---|---|---|\n")
	others := []string{"std", "gnet", "netpoll", "nbio"}
	var mine []string
	for _, i := range EchoImpls {
		if strings.HasPrefix(i, "gomsgr-") {
			mine = append(mine, i)
		}
	}
	best := func(impls []string, cs string, f func(*Result) float64, lower bool) (string, float64) {
		bi, bv := "", 0.0
		for _, i := range impls {
			r := t.get("echo", i, cs)
			if r == nil {
				continue
			}
			v := f(r)
			if bi == "" || (lower && v < bv) || (!lower && v > bv) {
				bi, bv = i, v
			}
		}
		return bi, bv
	}
	row := func(name, cs string, f func(*Result) float64, lower bool, unit string, slack float64) {
		mi, mv := best(mine, cs, f, lower)
		pi, pv := best(others, cs, f, lower)
		if mi == "" || pi == "" {
			fmt.Fprintf(&b, "| %s | — | — | not measured |\n", name)
			return
		}
		var ok bool
		if lower {
			ok = mv < pv
		} else {
			ok = mv > pv*(1-slack)
		}
		verdict := "missed"
		if ok {
			verdict = "met"
		}
		prec := 1
		if mv >= 1000 {
			prec = 0
		}
		fmt.Fprintf(&b, "| %s | `%s` %.*f %s | `%s` %.*f %s | %s (%.2f×) |\n", name, mi, prec, mv, unit, pi, prec, pv, unit, verdict, mv/pv)
	}
	us := func(d func(*Result) time.Duration) func(*Result) float64 {
		return func(r *Result) float64 { return float64(d(r)) / 1e3 }
	}
	row("1-connection ping-pong p50 lower than all", "pingpong-1c-64B", us(func(r *Result) time.Duration { return r.P50 }), true, "µs", 0)
	row("1-connection ping-pong p99 lower than all", "pingpong-1c-64B", us(func(r *Result) time.Duration { return r.P99 }), true, "µs", 0)
	row("pipelined 64 B msgs/s higher than all", "pipelined-16c32-64B", func(r *Result) float64 { return r.MsgsPerS }, false, "msgs/s", 0)
	row("RSS per idle connection lower than all", "idle-4c-64B", func(r *Result) float64 { return r.RSSPerConn }, true, "B", 0)
	row("64 KiB MB/s within 10% of the best peer", "pipelined-16c32-64KiB", func(r *Result) float64 { return r.MBPerS }, false, "MB/s", 0.10)
	b.WriteString("\n\"best gomsgr\" is the best of the four event-loop configurations in this run; the per-configuration figures are in the table above.\n\n")
	return b.String()
}
