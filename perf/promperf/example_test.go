package promperf_test

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/perf/promperf"
)

// A service registers its messenger's counters in one line; the collector
// reads them on every scrape.
func Example() {
	set := perf.NewSet("osd.0")
	w := set.AddWorker()
	w.Add(perf.SendBytes, 4096)
	w.AddTime(perf.SendMessagesQueueLat, 2*time.Millisecond)

	reg := prometheus.NewRegistry() // or prometheus.MustRegister(...) for the default one
	reg.MustRegister(promperf.NewCollector(set))

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch m := mf.GetMetric()[0]; mf.GetName() {
		case "gomsgr_msgr_send_bytes_total":
			fmt.Println(mf.GetName(), m.GetLabel()[0].GetValue(), m.GetLabel()[1].GetValue(), m.GetCounter().GetValue())
		case "gomsgr_msgr_send_messages_queue_lat_seconds":
			fmt.Println(mf.GetName(), m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum())
		}
	}
	// Output:
	// gomsgr_msgr_send_bytes_total osd.0 0 4096
	// gomsgr_msgr_send_messages_queue_lat_seconds 1 0.002
}
