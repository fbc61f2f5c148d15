// Package perf holds the messenger's perf counters: per-worker counters with
// Ceph AsyncMessenger's names and meanings (msgr_recv_messages,
// msgr_send_bytes, msgr_running_total_time, msgr_send_messages_queue_lat, …),
// throttle counters with Ceph Throttle's names, HdrHistogram latency
// histograms, and a JSON dump shaped like Ceph's `perf dump`. Package
// perf/promperf exports the same counters to Prometheus.
//
// Each worker goroutine owns one Counters, obtained from its messenger's Set,
// and is its only writer: an update is an uncontended atomic add on memory no
// other worker writes, and never allocates, so counting costs the hot path a
// few nanoseconds. Readers snapshot and aggregate across workers at any time
// without stopping them.
//
//	set := perf.NewSet("client.admin")
//	w := set.AddWorker()                       // one per worker goroutine
//	w.Inc(perf.RecvMessages)                   // a message arrived
//	w.Add(perf.RecvBytes, uint64(n))           // of n bytes
//	w.Inc(perf.ActiveConnections)              // gauge; Dec on close
//	w.AddTime(perf.RunningRecvTime, d)         // time sum
//	w.AddTime(perf.SendMessagesQueueLat, lat)  // average + histogram
//	set.WriteJSON(os.Stdout)                   // perf dump
package perf
