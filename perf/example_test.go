package perf_test

import (
	"fmt"
	"os"
	"time"

	"github.com/gomsgr/gomsgr/perf"
)

// A worker goroutine owns its Counters and is their only writer; a reader
// sums all workers or dumps them like Ceph's `perf dump`.
func Example() {
	set := perf.NewSet("client.admin", perf.WithoutHistograms())
	w := set.AddWorker() // handed to worker 0's goroutine

	// On the worker goroutine, as events happen:
	w.Inc(perf.CreatedConnections)
	w.Inc(perf.ActiveConnections)
	w.Inc(perf.RecvMessages)
	w.Add(perf.RecvBytes, 4096)
	w.AddTime(perf.RunningRecvTime, 250*time.Microsecond)
	w.AddTime(perf.SendMessagesQueueLat, 20*time.Microsecond)
	w.AddTime(perf.SendMessagesQueueLat, 40*time.Microsecond)
	w.Dec(perf.ActiveConnections)

	// On any goroutine, at any time:
	total := set.Total()
	fmt.Println(perf.RecvBytes, total.Get(perf.RecvBytes))
	fmt.Println(perf.ActiveConnections, total.Gauge(perf.ActiveConnections))
	fmt.Println(perf.SendMessagesQueueLat, total.Avg(perf.SendMessagesQueueLat).Mean())
	// Output:
	// msgr_recv_bytes 4096
	// msgr_active_connections 0
	// msgr_send_messages_queue_lat 30µs
}

// WriteJSON prints the Set as Ceph's `perf dump` does.
func ExampleSet_WriteJSON() {
	set := perf.NewSet("osd.0")
	set.AddThrottle("msgr_dispatch_throttler-client", 100<<20).RecordGet(512, 512)
	if err := set.WriteJSON(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {
	//     "throttle-msgr_dispatch_throttler-client": {
	//         "val": 512,
	//         "max": 104857600,
	//         "get_started": 0,
	//         "get": 1,
	//         "get_sum": 512,
	//         "get_or_fail_fail": 0,
	//         "get_or_fail_success": 0,
	//         "take": 0,
	//         "take_sum": 0,
	//         "put": 0,
	//         "put_sum": 0,
	//         "wait": {
	//             "avgcount": 0,
	//             "sum": 0.000000000,
	//             "avgtime": 0.000000000
	//         }
	//     }
	// }
}

// Latency counters also feed per-worker histograms, merged on read.
func ExampleSet_Percentiles() {
	set := perf.NewSet("client.admin")
	w0, w1 := set.AddWorker(), set.AddWorker()
	for i := 1; i <= 100; i++ {
		w0.AddTime(perf.HandleAckLat, time.Duration(i)*time.Millisecond)
		w1.AddTime(perf.HandleAckLat, time.Duration(i)*time.Millisecond)
	}
	p := set.Percentiles(perf.HandleAckLat)
	fmt.Println(p.Count, p.P50.Round(time.Millisecond), p.P99.Round(time.Millisecond))
	// Output:
	// 200 50ms 99ms
}

// A worker that counts many messages per loop turn gathers them in a Batch
// and publishes them once at the end of the turn.
func ExampleBatch() {
	set := perf.NewSet("osd.1", perf.WithoutHistograms())
	w := set.AddWorker()
	b := w.NewBatch() // owned by the worker goroutine, like w

	for i := 0; i < 32; i++ { // one loop turn's messages
		b.Inc(perf.RecvMessages)
		b.Add(perf.RecvBytes, 64)
	}
	fmt.Println("before Flush:", set.Total().Get(perf.RecvMessages))
	b.Flush() // end of the turn
	fmt.Println("after Flush:", set.Total().Get(perf.RecvMessages), set.Total().Get(perf.RecvBytes))
	// Output:
	// before Flush: 0
	// after Flush: 32 2048
}
