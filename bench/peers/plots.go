package peers

import (
	"fmt"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writePlots writes the latency CDFs of the 1-connection ping-pong and the
// pipelined throughput by message size, one PNG and one SVG per protocol, and returns
// their file names (relative to dir).
func writePlots(dir string, rs []Result) ([]string, error) {
	t := index(rs)
	var out []string
	for _, proto := range []string{"echo", "msgr2"} {
		impls := EchoImpls
		if proto == "msgr2" {
			impls = Msgr2Impls
		}
		name := "peers-latency-cdf-" + proto + ".png"
		ok, err := cdfPlot(filepath.Join(dir, name), proto, impls, t)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, name)
		}
		name = "peers-throughput-" + proto + ".png"
		ok, err = sizePlot(filepath.Join(dir, name), proto, impls, t)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// save writes the plot as PNG at path and as SVG next to it.
func save(p *plot.Plot, path string) error {
	if err := p.Save(9*vg.Inch, 5.5*vg.Inch, path); err != nil {
		return err
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, strings.TrimSuffix(path, ".png")+".svg")
}

func style(p *plot.Plot, i int, l *plotter.Line) {
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i / len(plotutil.SoftColors))
	l.Width = vg.Points(1.5)
}

// cdfPlot plots each server's round-trip distribution up to its p99.9 on a
// log time axis, 400 points per server.
func cdfPlot(path, proto string, impls []string, t table) (bool, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: 1 connection, 64 B ping-pong, round-trip CDF (to p99.9)", proto)
	p.X.Label.Text = "round trip (µs, log scale)"
	p.Y.Label.Text = "fraction of round trips"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = latencyTicks{}
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"},
		{Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 0.9, Label: "0.9"}, {Value: 1, Label: "1"}})
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	n := 0
	for i, impl := range impls {
		r := t.get(proto, impl, "pingpong-1c-64B")
		if r == nil || len(r.RTTs) == 0 {
			continue
		}
		const pts = 400
		xy := make(plotter.XYs, 0, pts)
		for k := 0; k < pts; k++ {
			q := float64(k) / pts * 0.999
			d := r.RTTs[int(q*float64(len(r.RTTs)))]
			xy = append(xy, plotter.XY{X: float64(d) / 1e3, Y: q})
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return false, err
		}
		style(p, i, l)
		p.Add(l)
		p.Legend.Add(impl, l)
		n++
	}
	if n == 0 {
		return false, nil
	}
	return true, save(p, path)
}

// sizePlot plots pipelined MB/s (16 connections × 32 in flight) by message
// size on log-log axes.
func sizePlot(path, proto string, impls []string, t table) (bool, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: pipelined throughput, 16 connections × 32 in flight", proto)
	p.X.Label.Text = "message size (bytes, log scale)"
	p.Y.Label.Text = "MB/s, one direction (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 64, Label: "64"}, {Value: 4096, Label: "4 KiB"}, {Value: 65536, Label: "64 KiB"}})
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	n := 0
	for i, impl := range impls {
		var xy plotter.XYs
		for _, cs := range Cases {
			if cs.Kind != Pipelined {
				continue
			}
			if r := t.get(proto, impl, cs.Name); r != nil && r.MBPerS > 0 {
				xy = append(xy, plotter.XY{X: float64(cs.Size), Y: r.MBPerS})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return false, err
		}
		style(p, i, l)
		s.Color = l.Color
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(impl, l, s)
		n++
	}
	if n == 0 {
		return false, nil
	}
	return true, save(p, path)
}

// latencyTicks labels a log time axis at 1, 2 and 5 times each power of ten.
type latencyTicks struct{}

func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for d := 1.0; d <= max*10; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v >= min && v <= max {
				ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v)})
			}
		}
	}
	return ts
}
