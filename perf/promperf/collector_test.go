package promperf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/perf/promperf"
)

func TestCollectAndCount(t *testing.T) {
	set := perf.NewSet("osd.0")
	set.AddWorker()
	set.AddWorker()
	set.AddThrottle("bytes", 100)
	other := perf.NewSet("client.admin", perf.WithoutHistograms())
	other.AddWorker()
	c := promperf.NewCollector(set, other)

	// Every counter of every worker, plus 12 per throttle.
	if got, want := testutil.CollectAndCount(c), 3*int(perf.NumCounters)+12; got != want {
		t.Errorf("CollectAndCount = %d, want %d", got, want)
	}
	if got := testutil.CollectAndCount(c, "gomsgr_msgr_recv_messages_total"); got != 3 {
		t.Errorf("gomsgr_msgr_recv_messages_total: %d series, want one per worker (3)", got)
	}
	// Registering must succeed: consistent descriptors, no duplicates.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	// A worker added after the collector was made is collected too.
	set.AddWorker()
	if got, want := testutil.CollectAndCount(c), 4*int(perf.NumCounters)+12; got != want {
		t.Errorf("after AddWorker: CollectAndCount = %d, want %d", got, want)
	}
}

func TestCollectAndCompare(t *testing.T) {
	set := perf.NewSet("osd.0", perf.WithoutHistograms())
	w := set.AddWorker()
	w.Add(perf.RecvMessages, 12)
	w.Add(perf.SendBytes, 4096)
	w.Inc(perf.ActiveConnections)
	w.Inc(perf.ActiveConnections)
	w.AddTime(perf.RunningTotalTime, 1500*time.Millisecond)
	w.AddTime(perf.HandleAckLat, time.Millisecond)
	w.AddTime(perf.HandleAckLat, 3*time.Millisecond)
	th := set.AddThrottle("msgr_dispatch_throttler-client", 1000)
	th.RecordGet(10, 10)
	th.RecordWait(time.Second)

	const want = `
# HELP gomsgr_msgr_recv_messages_total Network received messages (Ceph msgr_recv_messages).
# TYPE gomsgr_msgr_recv_messages_total counter
gomsgr_msgr_recv_messages_total{messenger="osd.0",worker="0"} 12
# HELP gomsgr_msgr_send_bytes_total Network sent bytes (Ceph msgr_send_bytes).
# TYPE gomsgr_msgr_send_bytes_total counter
gomsgr_msgr_send_bytes_total{messenger="osd.0",worker="0"} 4096
# HELP gomsgr_msgr_active_connections Active connection number (Ceph msgr_active_connections).
# TYPE gomsgr_msgr_active_connections gauge
gomsgr_msgr_active_connections{messenger="osd.0",worker="0"} 2
# HELP gomsgr_msgr_running_total_time_seconds_total The total time of thread running (Ceph msgr_running_total_time).
# TYPE gomsgr_msgr_running_total_time_seconds_total counter
gomsgr_msgr_running_total_time_seconds_total{messenger="osd.0",worker="0"} 1.5
# HELP gomsgr_msgr_handle_ack_lat_seconds Connection handle ack lat (Ceph msgr_handle_ack_lat).
# TYPE gomsgr_msgr_handle_ack_lat_seconds summary
gomsgr_msgr_handle_ack_lat_seconds_sum{messenger="osd.0",worker="0"} 0.004
gomsgr_msgr_handle_ack_lat_seconds_count{messenger="osd.0",worker="0"} 2
# HELP gomsgr_throttle_get_sum_total Got data (Ceph throttle get_sum).
# TYPE gomsgr_throttle_get_sum_total counter
gomsgr_throttle_get_sum_total{messenger="osd.0",throttle="msgr_dispatch_throttler-client"} 10
# HELP gomsgr_throttle_max Max value for throttle (Ceph throttle max).
# TYPE gomsgr_throttle_max gauge
gomsgr_throttle_max{messenger="osd.0",throttle="msgr_dispatch_throttler-client"} 1000
# HELP gomsgr_throttle_wait_seconds Waiting latency (Ceph throttle wait).
# TYPE gomsgr_throttle_wait_seconds summary
gomsgr_throttle_wait_seconds_sum{messenger="osd.0",throttle="msgr_dispatch_throttler-client"} 1
gomsgr_throttle_wait_seconds_count{messenger="osd.0",throttle="msgr_dispatch_throttler-client"} 1
`
	if err := testutil.CollectAndCompare(promperf.NewCollector(set), strings.NewReader(want),
		"gomsgr_msgr_recv_messages_total", "gomsgr_msgr_send_bytes_total",
		"gomsgr_msgr_active_connections", "gomsgr_msgr_running_total_time_seconds_total",
		"gomsgr_msgr_handle_ack_lat_seconds", "gomsgr_throttle_get_sum_total",
		"gomsgr_throttle_max", "gomsgr_throttle_wait_seconds"); err != nil {
		t.Error(err)
	}
}

// TestQuantiles checks that a Set with histograms exports quantiles.
func TestQuantiles(t *testing.T) {
	set := perf.NewSet("osd.0")
	w := set.AddWorker()
	for i := 1; i <= 1000; i++ {
		w.AddTime(perf.SendMessagesQueueLat, time.Duration(i)*time.Microsecond)
	}
	mfs, err := gather(promperf.NewCollector(set))
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gomsgr_msgr_send_messages_queue_lat_seconds" {
			continue
		}
		s := mf.GetMetric()[0].GetSummary()
		if s.GetSampleCount() != 1000 || len(s.GetQuantile()) != len(promperf.Quantiles) {
			t.Fatalf("summary = %v, want 1000 samples and %d quantiles", s, len(promperf.Quantiles))
		}
		for _, q := range s.GetQuantile() {
			want := q.GetQuantile() * 1e-3 // value i µs at rank i/1000
			if got := q.GetValue(); got < want*0.98 || got > want*1.02 {
				t.Errorf("quantile %v = %v s, want ≈%v s", q.GetQuantile(), got, want)
			}
		}
		return
	}
	t.Fatal("no gomsgr_msgr_send_messages_queue_lat_seconds")
}

func gather(c prometheus.Collector) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return reg.Gather()
}
