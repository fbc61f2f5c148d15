package echo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomsgr/gomsgr/center"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring", which targets select by name
)

// Target names one server configuration of a local run: "std" for the
// goroutine-per-connection server, or an event-loop configuration.
type Target struct {
	Name   string
	Std    bool
	Center center.Config
	// Completion selects the experimental io_uring completion-mode server
	// (CompletionServer); Center is then unused.
	Completion bool
}

// Targets returns "std" and every event-loop configuration for the given
// drivers, wait modes and spin budgets, and "uring-completion" (the
// completion-mode server) when the drivers include uring.
func Targets(drivers []string, waits []center.WaitMode, spins []time.Duration) []Target {
	out := []Target{{Name: "std", Std: true}}
	for _, d := range drivers {
		for _, w := range waits {
			for _, s := range spins {
				cfg := center.Config{Driver: d, Wait: w, Spin: s}
				out = append(out, Target{Name: name(cfg), Center: cfg})
			}
		}
	}
	for _, d := range drivers {
		if d == "uring" {
			out = append(out, Target{Name: "uring-completion", Completion: true})
		}
	}
	return out
}

// name is a configuration's target name: driver-wait-spin.
func name(c center.Config) string {
	spin := "nospin"
	if c.Spin > 0 {
		spin = "spin" + c.Spin.String()
	}
	return fmt.Sprintf("%s-%s-%s", c.Driver, c.Wait, spin)
}

// Result is one target's ping-pong figures.
type Result struct {
	Target   string        `json:"target"`
	Driver   string        `json:"driver,omitempty"` // after any fallback
	Size     int           `json:"size_bytes"`
	Ops      int           `json:"ops"`
	Duration time.Duration `json:"duration_ns"`
	OpsPerS  float64       `json:"ops_per_s"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	P999     time.Duration `json:"p999_ns"`
	Max      time.Duration `json:"max_ns"`
}

// Local runs a one-connection ping-pong of size-byte messages for d against
// each target in turn, with servers started by serve (Serve for this
// process), and returns one result per target. progress, if not nil, is
// called after each target.
func Local(ctx context.Context, targets []Target, size int, d time.Duration, serve ServeFunc, progress func(Result)) ([]Result, error) {
	if serve == nil {
		serve = Serve
	}
	var out []Result
	for _, tg := range targets {
		r, err := runTarget(ctx, tg, size, d, serve)
		if err != nil {
			return out, fmt.Errorf("%s: %w", tg.Name, err)
		}
		out = append(out, r)
		if progress != nil {
			progress(r)
		}
	}
	return out, nil
}

// Serve starts tg's server on a free loopback port and returns its address,
// the driver it runs on (after any fallback; empty for "std") and a stop
// function.
func Serve(tg Target) (addr, drv string, stop func() error, err error) {
	if tg.Std {
		s, err := NewStdServer("127.0.0.1:0")
		if err != nil {
			return "", "", nil, err
		}
		return s.Addr(), "", s.Close, nil
	}
	if tg.Completion {
		s, err := NewCompletionServer("127.0.0.1:0", CompletionOptions{})
		if err != nil {
			return "", "", nil, err
		}
		return s.Addr(), "uring-completion", within10s(s.Close), nil
	}
	s, err := NewServer("127.0.0.1:0", center.StackConfig{Name: "gomsgr-perf", Workers: 1, Center: tg.Center})
	if err != nil {
		return "", "", nil, err
	}
	return s.Addr(), s.stack.Workers()[0].Center().DriverName(), within10s(s.Close), nil
}

// within10s makes a stop function that gives close 10 seconds.
func within10s(close func(context.Context) error) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return close(ctx)
	}
}

// ServeFunc starts a server for a target and returns its address, driver
// name and stop function; Serve in this process, or a child process.
type ServeFunc func(tg Target) (addr, drv string, stop func() error, err error)

func runTarget(ctx context.Context, tg Target, size int, d time.Duration, serve ServeFunc) (Result, error) {
	addr, drv, stop, err := serve(tg)
	if err != nil {
		return Result{}, err
	}
	rtts, elapsed, err := pingPongFor(ctx, addr, size, d)
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return Result{}, err
	}
	r := Result{Target: tg.Name, Driver: drv, Size: size, Ops: len(rtts), Duration: elapsed}
	r.OpsPerS = float64(len(rtts)) / elapsed.Seconds()
	r.P50, r.P90 = Percentile(rtts, 50), Percentile(rtts, 90)
	r.P99, r.P999, r.Max = Percentile(rtts, 99), Percentile(rtts, 99.9), Percentile(rtts, 100)
	return r, nil
}

// pingPongFor runs batches of ping-pongs on new connections until d has
// passed; the first 1% of a run's round trips are warm-up and dropped.
func pingPongFor(ctx context.Context, addr string, size int, d time.Duration) ([]time.Duration, time.Duration, error) {
	const batch = 2000
	rtts := make([]time.Duration, 0, 1<<16)
	warm := make([]time.Duration, 200)
	if err := PingPong(ctx, addr, size, warm); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	buf := make([]time.Duration, batch)
	for time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if err := PingPong(ctx, addr, size, buf); err != nil {
			return nil, 0, err
		}
		rtts = append(rtts, buf...)
	}
	return rtts, time.Since(start), nil
}

// WriteTable prints results as an aligned table with each target's p50 and
// p99 as a ratio to the "std" target's. It returns w's first write error.
func WriteTable(w io.Writer, rs []Result) error {
	var base *Result
	for i := range rs {
		if rs[i].Target == "std" {
			base = &rs[i]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"target", "ops/s", "p50", "p90", "p99", "p99.9", "max", "p50/std", "p99/std", ""}, "\t"))
	for _, r := range rs {
		ratio50, ratio99 := "-", "-"
		if base != nil && base.P50 > 0 {
			ratio50 = fmt.Sprintf("%.2f", float64(r.P50)/float64(base.P50))
			ratio99 = fmt.Sprintf("%.2f", float64(r.P99)/float64(base.P99))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%v\t%v\t%v\t%s\t%s\t\n", r.Target, r.OpsPerS,
			us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max), ratio50, ratio99)
	}
	return tw.Flush() // the tabwriter holds every line until here, and reports w's error
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }
