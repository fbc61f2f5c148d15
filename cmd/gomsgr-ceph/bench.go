package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// result is one benchmark run: commands answered in the measured window
// and their round-trip percentiles.
type result struct {
	Client      string  `json:"client"`
	Concurrency int     `json:"concurrency"`
	Rounds      int     `json:"rounds,omitempty"`
	Ops         int     `json:"ops"`
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
}

// benchFlags are bench's and compare's flags.
type benchFlags struct {
	conc   []int
	dur    time.Duration
	warmup time.Duration
	cmd    string
	json   string
	rounds int
}

func parseBenchFlags(name string, args []string, defConc string) (*benchFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var b benchFlags
	conc := fs.String("c", defConc, "concurrent requests (goroutines or threads sharing one session); a comma list for several runs")
	fs.DurationVar(&b.dur, "d", 5*time.Second, "measured duration of each run")
	fs.DurationVar(&b.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each run")
	fs.StringVar(&b.cmd, "cmd", `{"prefix": "version"}`, "the mon command to send")
	fs.StringVar(&b.json, "json", "", "also write the results as JSON to this file")
	fs.IntVar(&b.rounds, "rounds", 1, "compare: interleaved rounds per client (medians are reported); more rounds resist a noisy machine")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return nil, errUsage
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-c %q: want positive numbers", *conc)
		}
		b.conc = append(b.conc, n)
	}
	return &b, nil
}

func benchCmd(ctx context.Context, g *globals, args []string, stdout io.Writer) error {
	b, err := parseBenchFlags("bench", args, "8")
	if err != nil {
		return err
	}
	var all []result
	for _, n := range b.conc {
		r, err := benchGomsgr(ctx, g, n, b)
		if err != nil {
			return err
		}
		all = append(all, r)
	}
	printResults(stdout, all)
	return writeJSON(b.json, all)
}

// benchGomsgr runs b.cmd from n goroutines over one monc session.
func benchGomsgr(ctx context.Context, g *globals, n int, b *benchFlags) (_ result, err error) {
	c, err := g.dial(ctx)
	if err != nil {
		return result{}, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	res := result{Client: "gomsgr " + c.Driver(), Concurrency: n} // the driver really in use
	if g.rev0 {
		res.Client += " msgr2.0"
	}
	start := time.Now()
	measureFrom := start.Add(b.warmup)
	end := measureFrom.Add(b.dur)
	lat := make([][]time.Duration, n)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, g.timeout)
			defer cancel()
			for {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				r, err := c.Command(rctx, b.cmd)
				if err == nil {
					err = r.Err()
				}
				if err != nil {
					errc <- err
					return
				}
				if t0.After(measureFrom) {
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return res, err
	}
	return summarize(res, slices.Concat(lat...), b.dur), nil
}

func summarize(r result, lat []time.Duration, window time.Duration) result {
	slices.Sort(lat)
	r.Ops = len(lat)
	r.Seconds = window.Seconds()
	r.OpsPerSec = float64(len(lat)) / window.Seconds()
	if len(lat) > 0 {
		r.P50us = float64(lat[len(lat)/2]) / 1e3
		r.P99us = float64(lat[min(len(lat)-1, len(lat)*99/100)]) / 1e3
	}
	return r
}

//go:embed librados_bench.py
var libradosScript []byte

// python is the interpreter with python3-rados: Debian installs the
// bindings for the system python, which may not be first on PATH.
func python() string {
	if p := os.Getenv("GOMSGR_PYTHON"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/python3", "/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "python3"
}

// benchLibrados runs the same load through librados (Ceph's own C++
// messenger and MonClient) with python3-rados: n threads calling
// Rados.mon_command on one connected handle.
func benchLibrados(ctx context.Context, g *globals, n int, b *benchFlags) (_ result, err error) {
	dir, err := os.MkdirTemp("", "gomsgr-ceph-")
	if err != nil {
		return result{}, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	script := filepath.Join(dir, "librados_bench.py")
	if err := os.WriteFile(script, libradosScript, 0o600); err != nil {
		return result{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, b.warmup+b.dur+g.timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, python(), script,
		"--mon", g.mon, "--concurrency", strconv.Itoa(n),
		"--duration", strconv.FormatFloat(b.dur.Seconds(), 'f', -1, 64),
		"--warmup", strconv.FormatFloat(b.warmup.Seconds(), 'f', -1, 64),
		"--timeout", strconv.FormatFloat(g.timeout.Seconds(), 'f', -1, 64),
		"--cmd", b.cmd, "--name", g.name, "--keyring", g.keyPath)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("librados benchmark (%s): %w\n%s%s", cmd, err, errb.Bytes(), libradosHint(errb.String()))
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return result{}, fmt.Errorf("librados benchmark output %q: %w", out.Bytes(), err)
	}
	return r, nil
}

func libradosHint(stderr string) string {
	if strings.Contains(stderr, "No module named 'rados'") {
		return "install the Debian package python3-rados (apt-get install -y python3-rados), or set GOMSGR_PYTHON to a python with it\n"
	}
	return ""
}

func compareCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	b, err := parseBenchFlags("compare", args, "1,8")
	if err != nil {
		return err
	}
	if b.rounds < 1 {
		return fmt.Errorf("-rounds %d: want 1 or more", b.rounds)
	}
	// Resolve the keyring once, so that librados uses the same one.
	if _, err := g.options(); err != nil {
		return err
	}
	clients := []string{"epoll", "uring", "librados"}
	var all []result
	for _, n := range b.conc {
		// Rounds interleave the clients, so that a change in the machine's
		// load hits all of them alike.
		runs := make([][]result, len(clients))
		for range b.rounds {
			for i, name := range clients {
				var r result
				var err error
				if name == "librados" {
					r, err = benchLibrados(ctx, g, n, b)
				} else {
					gd := *g
					gd.driver = name
					r, err = benchGomsgr(ctx, &gd, n, b)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				runs[i] = append(runs[i], r)
			}
		}
		for _, rs := range runs {
			all = append(all, medianOf(rs))
		}
	}
	printResults(stdout, all)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "ratios to librados at the same concurrency (cmds/s: higher is better for gomsgr; latency: lower is)")
	for _, r := range all {
		if r.Client == "librados" {
			continue
		}
		for _, l := range all {
			if l.Client == "librados" && l.Concurrency == r.Concurrency && l.OpsPerSec > 0 && l.P50us > 0 && l.P99us > 0 {
				fmt.Fprintf(stdout, "  %-16s c=%-3d cmds/s x%.2f   p50 x%.2f   p99 x%.2f\n",
					r.Client, r.Concurrency, r.OpsPerSec/l.OpsPerSec, r.P50us/l.P50us, r.P99us/l.P99us)
			}
		}
	}
	return writeJSON(b.json, all)
}

// medianOf folds the rounds of one client: total commands and time, and
// the median of the rounds' rates and percentiles.
func medianOf(rs []result) result {
	out := rs[0]
	out.Rounds = len(rs)
	out.Ops, out.Seconds = 0, 0
	var rate, p50, p99 []float64
	for _, r := range rs {
		out.Ops += r.Ops
		out.Seconds += r.Seconds
		rate, p50, p99 = append(rate, r.OpsPerSec), append(p50, r.P50us), append(p99, r.P99us)
	}
	med := func(v []float64) float64 {
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	out.OpsPerSec, out.P50us, out.P99us = med(rate), med(p50), med(p99)
	return out
}

func printResults(w io.Writer, rs []result) {
	fmt.Fprintf(w, "%-18s %5s %6s %9s %10s %10s %10s\n", "client", "conc", "rounds", "cmds", "cmds/s", "p50 µs", "p99 µs")
	for _, r := range rs {
		fmt.Fprintf(w, "%-18s %5d %6d %9d %10.0f %10.1f %10.1f\n", r.Client, r.Concurrency, max(r.Rounds, 1), r.Ops, r.OpsPerSec, r.P50us, r.P99us)
	}
}

func writeJSON(path string, rs []result) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return errors.Join(os.WriteFile(path, append(b, '\n'), 0o644))
}
