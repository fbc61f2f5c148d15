// Command gomsgr-perf measures gomsgr's event loop (Ceph's perf_msgr tools in
// spirit). For now it has one mode:
//
//	gomsgr-perf local [-duration 1s] [-size 64] [-drivers epoll,uring] [-waits poller,thread] [-spins 0,50µs] [-json out.json]
//
// local runs, in this process, a one-connection ping-pong against the
// standard library's goroutine-per-connection echo server and against the
// event-loop echo server in every chosen configuration, then prints
// throughput and round-trip percentiles with ratios to the standard library.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gomsgr/gomsgr/bench/echo"
	"github.com/gomsgr/gomsgr/center"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "local" {
		fmt.Fprintln(os.Stderr, "usage: gomsgr-perf local [flags]  (run 'gomsgr-perf local -h' for flags)")
		os.Exit(2)
	}
	if err := local(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "gomsgr-perf:", err)
		os.Exit(1)
	}
}

func local(args []string) error {
	fs := flag.NewFlagSet("local", flag.ExitOnError)
	dur := fs.Duration("duration", time.Second, "how long to run each target")
	size := fs.Int("size", 64, "message size in bytes")
	drivers := fs.String("drivers", "epoll,uring", "event-loop drivers, comma separated")
	waits := fs.String("waits", "poller,thread", "wait modes, comma separated (poller, thread)")
	spins := fs.String("spins", "0,50µs", "spin budgets before blocking, comma separated (0 = none)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	fs.Parse(args)

	var wm []center.WaitMode
	for _, w := range split(*waits) {
		switch w {
		case "poller":
			wm = append(wm, center.WaitPoller)
		case "thread":
			wm = append(wm, center.WaitThread)
		default:
			return fmt.Errorf("unknown wait mode %q", w)
		}
	}
	var sp []time.Duration
	for _, s := range split(*spins) {
		d, err := time.ParseDuration(s)
		if err != nil && s != "0" {
			return fmt.Errorf("spin %q: %w", s, err)
		}
		if d == 0 {
			d = -1
		}
		sp = append(sp, d)
	}
	targets := echo.Targets(split(*drivers), wm, sp)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	fmt.Fprintf(os.Stderr, "ping-pong, 1 connection, %d-byte messages, %v per target, %d targets\n", *size, *dur, len(targets))
	rs, err := echo.Local(ctx, targets, *size, *dur, func(r echo.Result) {
		fmt.Fprintf(os.Stderr, "  %-28s p50 %6.1fµs  p99 %7.1fµs\n", r.Target, float64(r.P50)/1e3, float64(r.P99)/1e3)
	})
	if err != nil {
		return err
	}
	fmt.Println()
	echo.WriteTable(os.Stdout, rs)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rs, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
