// Command gomsgr-perf measures gomsgr's event loop (Ceph's perf_msgr tools in
// spirit):
//
//	gomsgr-perf local [-duration 1s] [-size 64] [-drivers epoll,uring] [-waits poller,thread] [-spins 0,50µs] [-split] [-json out.json]
//	gomsgr-perf local -mode msgr [-impl epoll|uring|simple] [-jobs 1] [-concurrency 1] [-size 64] [-duration 3s | -ops N]
//	gomsgr-perf server [-impl epoll] [-addr 127.0.0.1:0] [-think 0]
//	gomsgr-perf client -addr ADDR [-impl epoll] [-jobs 1] [-concurrency 1] [-size 64] [-duration 3s | -ops N] [-think 0]
//	gomsgr-perf echo-server -target NAME     (used by local -split)
//
// server, client and local -mode msgr run the msgr2 messenger workload of
// Ceph's ceph_perf_msgr_server / ceph_perf_msgr_client (package
// bench/perfmsgr): each job is a client messenger with one connection
// keeping -concurrency requests of -size data bytes in flight; the server
// answers each with a message of the same size. They print throughput, MB/s
// and latency percentiles, and take -json FILE, -cpuprofile FILE,
// -memprofile FILE, -trace FILE, -pprof ADDR and -perf-dump; a progress
// bar goes to stderr when it is a terminal.
//
// local runs a one-connection ping-pong against the standard library's
// goroutine-per-connection echo server and against the event-loop echo
// server in every chosen configuration, then prints throughput and
// round-trip percentiles with ratios to the standard library. With -split
// (the default) each server runs in a child process pinned to CPU 1 with
// GOMAXPROCS=1 and the client is pinned to CPU 0, so that client and server
// do not compete for one scheduler; -split=false runs both in one process.
//
// The event loop needs Linux. Elsewhere the tool builds, -impl simple and
// the standard library's echo target (local with an empty -drivers list)
// run; the epoll and uring messengers and echo targets fail when started.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/gomsgr/gomsgr/bench/echo"
	"github.com/gomsgr/gomsgr/center"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring" for -drivers and -impl
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "local":
		if len(os.Args) > 3 && os.Args[2] == "-mode" && os.Args[3] == "msgr" {
			err = localMsgr(os.Args[4:])
		} else {
			args := os.Args[2:]
			if len(args) > 1 && args[0] == "-mode" && args[1] == "echo" {
				args = args[2:]
			}
			err = local(args)
		}
	case "server":
		err = msgrServer(os.Args[2:])
	case "client":
		err = msgrClient(os.Args[2:])
	case "echo-server":
		err = echoServer(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gomsgr-perf:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: gomsgr-perf local [-mode echo] [flags]    ping-pong matrix, event loop vs the standard library
       gomsgr-perf local -mode msgr [flags]       messenger workload, server and client in one process
       gomsgr-perf server [flags] / client -addr ADDR [flags]
(-h after a mode lists its flags)`)
	os.Exit(2)
}

func allTargets() []echo.Target {
	return echo.Targets([]string{"epoll", "uring"}, []center.WaitMode{center.WaitPoller, center.WaitThread}, []time.Duration{-1, center.DefaultSpin})
}

func echoServer(args []string) error {
	fs := flag.NewFlagSet("echo-server", flag.ExitOnError)
	name := fs.String("target", "std", "server configuration (a target name printed by local)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, tg := range allTargets() {
		if tg.Name == *name {
			return echo.RunChild(tg, os.Stdin, os.Stdout)
		}
	}
	return fmt.Errorf("unknown target %q", *name)
}

func local(args []string) error {
	fs := flag.NewFlagSet("local", flag.ExitOnError)
	dur := fs.Duration("duration", time.Second, "how long to run each target")
	size := fs.Int("size", 64, "message size in bytes")
	drivers := fs.String("drivers", "epoll,uring", "event-loop drivers, comma separated")
	waits := fs.String("waits", "poller,thread", "wait modes, comma separated (poller, thread)")
	spins := fs.String("spins", "0,50µs", "spin budgets before blocking, comma separated (0 = none)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	splitProc := fs.Bool("split", true, "run each server in a child process on its own CPU")
	if err := fs.Parse(args); err != nil {
		return err
	}

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
	var serve echo.ServeFunc
	mode := "client and server in one process"
	if *splitProc && runtime.NumCPU() >= 2 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		serve = echo.ChildServe(exe, 1, 1)
		if err := echo.PinSelf(0); err != nil {
			fmt.Fprintln(os.Stderr, "gomsgr-perf: not pinned:", err)
		}
		runtime.GOMAXPROCS(1)
		mode = "server process on CPU 1, client on CPU 0, GOMAXPROCS=1 each"
	}
	fmt.Fprintf(os.Stderr, "ping-pong, 1 connection, %d-byte messages, %v per target, %d targets; %s\n", *size, *dur, len(targets), mode)
	rs, err := echo.Local(ctx, targets, *size, *dur, serve, func(r echo.Result) {
		fmt.Fprintf(os.Stderr, "  %-28s p50 %6.1fµs  p99 %7.1fµs\n", r.Target, float64(r.P50)/1e3, float64(r.P99)/1e3)
	})
	if err != nil {
		return err
	}
	fmt.Println()
	if err := echo.WriteTable(os.Stdout, rs); err != nil {
		return err
	}
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
