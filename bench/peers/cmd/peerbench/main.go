// Command peerbench runs the comparison harness of package peers:
//
//	peerbench run [-duration 700ms] [-rounds 3] [-timeout 1m] [-warm 300ms] [-idle 10000] [-impls a,b] [-cases a,b] [-out ../..] [-json f]
//	peerbench server -impl NAME -proto echo|msgr2 [-addr 127.0.0.1:0]
//
// run starts every server in a child process (`peerbench server`) pinned to
// CPU 1 with GOMAXPROCS=1, pins itself (the load generator) to CPU 0, runs
// every case, and writes RESULTS.md and the plots into -out (bench/ when run
// from bench/peers). server serves until its standard input closes and
// answers "rss" with its resident set size.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gomsgr/gomsgr/bench/peers"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "server":
		err = server(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: peerbench run [flags] | peerbench server -impl NAME -proto echo|msgr2")
	os.Exit(2)
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	impl := fs.String("impl", "std", "server implementation")
	proto := fs.String("proto", "echo", "echo or msgr2")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return peers.ServeChild(*impl, *proto, *addr, os.Stdin, os.Stdout)
}

func list(s string) func(string) bool {
	if s == "" {
		return func(string) bool { return true }
	}
	names := strings.Split(s, ",")
	return func(n string) bool { return slices.Contains(names, n) }
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	dur := fs.Duration("duration", 700*time.Millisecond, "measured time of each case in each round")
	rounds := fs.Int("rounds", 3, "rounds; each runs every case against every server (the idle case runs once)")
	timeout := fs.Duration("timeout", time.Minute, "stop a case (kill its server) after this long")
	warm := fs.Duration("warm", 300*time.Millisecond, "unmeasured warm-up of each case")
	idle := fs.Int("idle", 10000, "idle connections of the idle case")
	impls := fs.String("impls", "", "servers to run, comma separated (default all)")
	cases := fs.String("cases", "", "cases to run, comma separated (default all)")
	out := fs.String("out", "..", "directory for RESULTS.md and the plots")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	rev := fs.String("rev", gitRev(), "the gomsgr tree measured, for the report (default: git describe of ../..)")
	split := fs.Bool("split", true, "pin the load generator to CPU 0 and the servers to CPU 1")
	if err := fs.Parse(args); err != nil {
		return err
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	limit, err := peers.RaiseNoFile()
	if err != nil {
		return err
	}
	if need := uint64(*idle + 1000); limit < need {
		fmt.Fprintf(os.Stderr, "peerbench: RLIMIT_NOFILE is %d; the idle case uses %d connections, lowering to %d\n", limit, *idle, limit-1000)
		*idle = int(limit) - 1000
	}
	serverCPU := -1
	if *split && runtime.NumCPU() >= 2 {
		if err := peers.PinSelf(0); err != nil {
			return err
		}
		serverCPU = 1
	}
	inImpls, inCases := list(*impls), list(*cases)
	meta := peers.NewMeta(*dur, *warm, *idle, serverCPU, *rounds)
	meta.Rev = *rev
	start := time.Now()
	rs := peers.Run(peers.Options{
		Exe: exe, ServerCPU: serverCPU, Duration: *dur, Warm: *warm, IdleConns: *idle, Rounds: *rounds, Timeout: *timeout,
		Impls:    func(_, impl string) bool { return inImpls(impl) },
		Cases:    func(c peers.Case) bool { return inCases(c.Name) },
		Progress: os.Stderr,
	})
	meta.Finish(start)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rs, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if err := peers.WriteReport(*out, rs, meta); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s in %v\n", filepath.Join(*out, "RESULTS.md"), time.Since(start).Round(time.Second))
	return nil
}

// gitRev describes the tree bench/peers' replace directive builds against.
func gitRev() string {
	b, err := exec.Command("git", "-C", "../..", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return "commit " + strings.TrimSpace(string(b))
}
