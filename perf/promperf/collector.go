package promperf

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gomsgr/gomsgr/perf"
)

// Namespace prefixes every metric name.
const Namespace = "gomsgr"

// Quantiles are the summary quantiles computed from a worker's histogram.
var Quantiles = []float64{0.5, 0.9, 0.99, 0.999}

// metric pairs a descriptor with its Prometheus value type.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// Collector is a prometheus.Collector for one or more perf.Sets. It reads
// the counters on each scrape, so workers never wait for it.
type Collector struct {
	sets     []*perf.Set
	workers  [perf.NumCounters]metric
	throttle struct {
		val, max                             *prometheus.Desc
		getStarted, get, getSum              *prometheus.Desc
		getOrFailFail, getOrFailSuccess      *prometheus.Desc
		take, takeSum, put, putSum, waitSecs *prometheus.Desc
	}
}

// NewCollector returns a Collector of the given Sets' workers and throttles,
// including those added to the Sets later. The Sets' names (the messenger
// label) must differ, or the registry reports duplicate series.
func NewCollector(sets ...*perf.Set) *Collector {
	c := &Collector{sets: sets}
	workerLabels := []string{"messenger", "worker"}
	for _, id := range perf.AllCounters() {
		d := id.Desc()
		name, typ := Namespace+"_"+d.Name, prometheus.CounterValue
		help := d.Help + " (Ceph " + d.Name + ")."
		switch d.Kind {
		case perf.KindCounter:
			name += "_total"
		case perf.KindGauge:
			typ = prometheus.GaugeValue
		case perf.KindTime:
			name += "_seconds_total"
		case perf.KindTimeAvg:
			name += "_seconds"
			typ = prometheus.UntypedValue // a summary, see Collect
		}
		c.workers[id] = metric{prometheus.NewDesc(name, help, workerLabels, nil), typ}
	}
	tl := []string{"messenger", "throttle"}
	td := func(ceph, suffix, help string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_throttle_"+ceph+suffix, help+" (Ceph throttle "+ceph+").", tl, nil)
	}
	t := &c.throttle
	t.val = td("val", "", "Currently taken from the throttle")
	t.max = td("max", "", "Max value for throttle")
	t.getStarted = td("get_started", "_total", "Number of get calls, increased before wait")
	t.get = td("get", "_total", "Gets")
	t.getSum = td("get_sum", "_total", "Got data")
	t.getOrFailFail = td("get_or_fail_fail", "_total", "Get blocked during get_or_fail")
	t.getOrFailSuccess = td("get_or_fail_success", "_total", "Successful get during get_or_fail")
	t.take = td("take", "_total", "Takes")
	t.takeSum = td("take_sum", "_total", "Taken data")
	t.put = td("put", "_total", "Puts")
	t.putSum = td("put_sum", "_total", "Put data")
	t.waitSecs = td("wait", "_seconds", "Waiting latency")
	return c
}

// Describe sends every metric's descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.workers {
		ch <- m.desc
	}
	t := &c.throttle
	for _, d := range []*prometheus.Desc{
		t.val, t.max, t.getStarted, t.get, t.getSum, t.getOrFailFail,
		t.getOrFailSuccess, t.take, t.takeSum, t.put, t.putSum, t.waitSecs,
	} {
		ch <- d
	}
}

// Collect sends the current value of every counter of every worker and
// throttle.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, set := range c.sets {
		msgr := set.Name()
		for _, w := range set.Workers() {
			c.collectWorker(ch, msgr, w)
		}
		for _, t := range set.Throttles() {
			c.collectThrottle(ch, msgr, t)
		}
	}
}

func (c *Collector) collectWorker(ch chan<- prometheus.Metric, msgr string, w *perf.Counters) {
	worker := strconv.Itoa(w.ID())
	snap := w.Snapshot()
	for _, id := range perf.AllCounters() {
		m := c.workers[id]
		switch id.Kind() {
		case perf.KindCounter:
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(snap.Get(id)), msgr, worker)
		case perf.KindGauge:
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(snap.Gauge(id)), msgr, worker)
		case perf.KindTime:
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, snap.Time(id).Seconds(), msgr, worker)
		case perf.KindTimeAvg:
			ch <- summary(m.desc, snap.Avg(id), w.Histogram(id), msgr, worker)
		}
	}
}

// summary makes a constant summary of an average, with quantiles from the
// histogram if there is one.
func summary(desc *prometheus.Desc, a perf.Avg, h *perf.Histogram, labels ...string) prometheus.Metric {
	var q map[float64]float64
	if h != nil {
		hdr := h.Hdr()
		if hdr.TotalCount() > 0 {
			q = make(map[float64]float64, len(Quantiles))
			for _, p := range Quantiles {
				q[p] = float64(hdr.ValueAtPercentile(p*100)) / 1e9
			}
		}
	}
	return prometheus.MustNewConstSummary(desc, a.Count, a.Sum.Seconds(), q, labels...)
}

func (c *Collector) collectThrottle(ch chan<- prometheus.Metric, msgr string, th *perf.Throttle) {
	s := th.Snapshot()
	t := &c.throttle
	name := th.Name()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), msgr, name)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), msgr, name)
	}
	gauge(t.val, s.Val)
	gauge(t.max, s.Max)
	counter(t.getStarted, s.GetStarted)
	counter(t.get, s.Get)
	counter(t.getSum, s.GetSum)
	counter(t.getOrFailFail, s.GetOrFailFail)
	counter(t.getOrFailSuccess, s.GetOrFailSuccess)
	counter(t.take, s.Take)
	counter(t.takeSum, s.TakeSum)
	counter(t.put, s.Put)
	counter(t.putSum, s.PutSum)
	ch <- summary(t.waitSecs, s.Wait, nil, msgr, name)
}
