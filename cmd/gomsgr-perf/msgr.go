package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // -pprof ADDR serves /debug/pprof
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/bench/perfmsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/perf"
)

// msgrFlags are the flags shared by server, client and local -mode msgr.
type msgrFlags struct {
	impl, wait, io, pprofAddr, cpuProfile, memProfile, traceOut, jsonOut, mode string
	workers                                                                    int
	spin                                                                       time.Duration
	lossless, perfDump                                                         bool
}

func (f *msgrFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.impl, "impl", "epoll", "messenger: epoll, uring (event loop) or simple (goroutine per connection)")
	fs.IntVar(&f.workers, "workers", 2, "event-loop workers per messenger (ms_async_op_threads)")
	fs.StringVar(&f.wait, "wait", "auto", "event-loop wait mode: auto (thread for uring, poller for epoll), poller or thread")
	fs.StringVar(&f.io, "io", "readiness", "socket I/O: readiness, or completion (io_uring receiving into its buffers and sending; -impl uring)")
	fs.DurationVar(&f.spin, "spin", 0, "event-loop spin before blocking (0: default 50µs; negative: off)")
	fs.BoolVar(&f.lossless, "lossless", false, "lossless policies (stateful_server / lossless_client) instead of lossy")
	fs.StringVar(&f.pprofAddr, "pprof", "", "serve net/http/pprof on this address (127.0.0.1:6060)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile to this file at the end")
	fs.StringVar(&f.traceOut, "trace", "", "write an execution trace (go tool trace) to this file")
	fs.StringVar(&f.jsonOut, "json", "", "write the result as JSON to this file")
	fs.BoolVar(&f.perfDump, "perf-dump", false, "print the messengers' perf counters (Ceph's perf dump) at the end")
	fs.StringVar(&f.mode, "security", "none", "session security: none (auth none, crc), crc (cephx, crc) or secure (cephx, AES-GCM); server and client must agree")
}

func (f *msgrFlags) config() (perfmsgr.Config, error) {
	cfg := perfmsgr.Config{Impl: f.impl, Workers: f.workers, Spin: f.spin, Lossless: f.lossless, Mode: f.mode}
	switch f.wait {
	case "auto":
	case "poller":
		cfg.Wait = center.WaitPoller
	case "thread":
		cfg.Wait = center.WaitThread
	default:
		return cfg, fmt.Errorf("unknown wait mode %q", f.wait)
	}
	switch f.io {
	case "readiness":
	case "completion":
		if f.impl != "uring" {
			return cfg, fmt.Errorf("-io completion needs -impl uring")
		}
		cfg.IO = center.IOCompletion
	default:
		return cfg, fmt.Errorf("unknown -io %q: readiness or completion", f.io)
	}
	return cfg, nil
}

// profiling starts what the flags ask for and returns the function that
// finishes it and reports whether the profiles were written.
func (f *msgrFlags) profiling() (func() error, error) {
	if f.pprofAddr != "" {
		go func() {
			if err := http.ListenAndServe(f.pprofAddr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "gomsgr-perf: pprof:", err)
			}
		}()
	}
	stop := func() error { return nil }
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			return nil, errors.Join(err, out.Close())
		}
		stop = func() error { pprof.StopCPUProfile(); return out.Close() }
	}
	if f.traceOut != "" {
		out, err := os.Create(f.traceOut)
		if err == nil {
			if err = trace.Start(out); err != nil {
				err = errors.Join(err, out.Close())
			}
		}
		if err != nil {
			return nil, errors.Join(err, stop())
		}
		stopCPU := stop
		stop = func() error { trace.Stop(); return errors.Join(out.Close(), stopCPU()) }
	}
	return func() error {
		err := stop()
		if f.memProfile != "" {
			err = errors.Join(err, writeHeapProfile(f.memProfile))
		}
		return err
	}, nil
}

func writeHeapProfile(path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(out), out.Close())
}

// dumpPerf writes m's perf counters to stdout, if m has any.
func dumpPerf(m gomsgr.Messenger) error {
	if p, ok := m.(interface{ Perf() *perf.Set }); ok {
		return p.Perf().WriteJSON(os.Stdout)
	}
	return nil
}

// server: gomsgr-perf server -addr 127.0.0.1:6800 [-think 0]
func msgrServer(args []string) (err error) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	var f msgrFlags
	f.register(fs)
	addr := fs.String("addr", "127.0.0.1:0", "address to bind (port 0: a port the kernel chooses, printed)")
	think := fs.Duration("think", 0, "server think time per request (slow dispatch)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		return err
	}
	finish, err := f.profiling()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, finish()) }()
	srv, err := perfmsgr.StartServer(cfg, ap, *think)
	if err != nil {
		return err
	}
	fmt.Println(srv.Addr().Addr)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	<-ctx.Done()
	if f.perfDump {
		err = dumpPerf(srv.Messenger())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return errors.Join(err, srv.Shutdown(sctx))
}

func loadFlags(fs *flag.FlagSet) *perfmsgr.Load {
	l := &perfmsgr.Load{}
	fs.IntVar(&l.Jobs, "jobs", 1, "client messengers, one connection each")
	fs.IntVar(&l.Concurrency, "concurrency", 1, "messages in flight per job")
	fs.IntVar(&l.Size, "size", 64, "data bytes per message")
	fs.Int64Var(&l.Ops, "ops", 0, "total requests (0: run for -duration)")
	fs.DurationVar(&l.Duration, "duration", 3*time.Second, "how long to run when -ops is 0")
	fs.DurationVar(&l.Think, "think", 0, "client think time before each next request")
	return l
}

// client: gomsgr-perf client -addr 127.0.0.1:6800 [-jobs 1 -concurrency 1 -size 64 -duration 3s]
func msgrClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	var f msgrFlags
	f.register(fs)
	addr := fs.String("addr", "", "the server's address (required)")
	load := loadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("client: -addr is required")
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		return err
	}
	return runLoad(&f, cfg, gomsgr.EntityAddr{Type: 2, Addr: ap}, *load, nil)
}

// localMsgr runs server and client messengers in this process.
func localMsgr(args []string) (err error) {
	fs := flag.NewFlagSet("local -mode msgr", flag.ExitOnError)
	var f msgrFlags
	f.register(fs)
	think := fs.Duration("server-think", 0, "server think time per request")
	load := loadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	srv, err := perfmsgr.StartServer(cfg, netip.MustParseAddrPort("127.0.0.1:0"), *think)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, srv.Shutdown(ctx))
	}()
	return runLoad(&f, cfg, srv.Addr(), *load, srv.Messenger())
}

func runLoad(f *msgrFlags, cfg perfmsgr.Config, addr gomsgr.EntityAddr, load perfmsgr.Load, server gomsgr.Messenger) error {
	finish, err := f.profiling()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(os.Stderr.Fd())) {
		max := load.Ops
		if max <= 0 {
			max = -1
		}
		bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(cfg.Impl), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionClearOnFinish())
	}
	res, err := perfmsgr.Run(ctx, cfg, addr, load, func(n int64) {
		if bar != nil {
			_ = bar.Set64(n) // a progress display: a failed terminal write is not worth ending the run
		}
	})
	if bar != nil {
		_ = bar.Finish() // as above
	}
	if err := errors.Join(err, finish()); err != nil {
		return err
	}
	fmt.Println(res)
	if f.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(f.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if f.perfDump && server != nil {
		return dumpPerf(server)
	}
	return nil
}
