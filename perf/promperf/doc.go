// Package promperf exports perf counters to Prometheus. It is apart from
// perf so that programs that only count or dump JSON do not link the
// Prometheus client.
//
// One line registers a messenger's counters:
//
//	prometheus.MustRegister(promperf.NewCollector(set))
//
// Every worker counter becomes a metric named gomsgr_<Ceph name> with labels
// messenger and worker: counters (…_total), gauges, time sums in seconds
// (…_seconds_total) and latency averages as summaries in seconds
// (…_seconds, with _sum, _count and, when the Set keeps histograms, the
// 0.5, 0.9, 0.99 and 0.999 quantiles). Throttles become gomsgr_throttle_*
// with labels messenger and throttle.
package promperf
