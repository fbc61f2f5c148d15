// Package perf holds the messenger's perf counters: per-worker counters with
// Ceph AsyncMessenger's names and meanings (msgr_recv_messages,
// msgr_send_bytes, msgr_running_total_time, msgr_send_messages_queue_lat, …),
// throttle counters with Ceph Throttle's names, HdrHistogram latency
// histograms, and a JSON dump shaped like Ceph's `perf dump`. Package
// perf/promperf exports the same counters to Prometheus.
//
// Each worker goroutine owns one Counters, obtained from its messenger's Set,
// and is its only writer: an update is an uncontended atomic add on memory no
// other worker writes, and never allocates. A worker that counts many
// messages per loop turn gathers them in a Batch (plain adds) and publishes
// it once per turn. Readers snapshot and aggregate across workers at any
// time without stopping them.
//
// The clock reads that timings need cost several times the adds (the
// measured figures are in bench/RESULTS.md, "Figures moved from doc
// comments"). Package conn therefore times one message, ack, handler run
// and fast dispatch in conn.Options.SampleEvery (64 by default): averages
// and histograms are over the sampled ones, and a sampled duration counts
// SampleEvery times in the running-time sums. Message and byte counts stay
// exact. conn's BenchmarkCounting compares counting on and off.
//
//	set := perf.NewSet("client.admin")
//	w := set.AddWorker()                       // one per worker goroutine
//	w.Inc(perf.RecvMessages)                   // a message arrived
//	w.Add(perf.RecvBytes, uint64(n))           // of n bytes
//	w.Inc(perf.ActiveConnections)              // gauge; Dec on close
//	w.AddTime(perf.RunningRecvTime, d)         // time sum
//	w.AddTime(perf.SendMessagesQueueLat, lat)  // average + histogram
//	set.WriteJSON(os.Stdout)                   // perf dump
//
// # Where a messenger counts
//
// Ceph updates each counter at one place; a messenger that counts at the
// same places gives numbers a Ceph operator can read the same way:
//
//   - RunningTotalTime: after each event-loop iteration, the time it spent
//     working (not blocked waiting for events).
//   - CreatedConnections, ActiveConnections: Inc both when a connection is
//     created (accepted or connecting) on the worker; Dec ActiveConnections
//     when the messenger drops it. Ceph decrements from whichever thread
//     drops it; Dec is safe from any goroutine, and Set.Total sums gauges
//     signed, so the total stays right.
//   - RecvMessages, RecvBytes: when a whole message has been read, once per
//     message, with its on-wire length (msgr2: the frame's length).
//   - RunningRecvTime: from the start of reading a message to just before
//     its dispatch; RunningFastDispatchTime: the fast-dispatch call itself.
//   - SendMessages, SendBytes: for each message written, with its encoded
//     on-wire length.
//   - RunningSendTime: the time of each write event (framing and writing
//     the out queue).
//   - SendMessagesQueueLat: when a message is taken off the out queue to be
//     written, the time since it was queued (Ceph: queue_start).
//   - HandleAckLat: the time to process an ack (dropping acked messages from
//     the sent list).
//   - RecvEncryptedBytes, SendEncryptedBytes: bytes read and written in
//     secure mode.
//   - ConnectionReadyTimeouts: a connection not ready within the connect
//     timeout was faulted; ConnectionIdleTimeouts: an open connection idle
//     longer than the idle timeout was faulted.
//   - ConnectionStalls (gomsgr's own): a connection holding receive budget
//     for a message that did not arrive whole within the message progress
//     deadline was faulted; HandshakesRefused (gomsgr's own): an accepted
//     socket was closed at once because too many accepted connections were
//     not ready yet.
//
// A throttle calls its Throttle's Record methods where Ceph's Throttle
// updates its logger: RecordGetStarted before a get may wait, RecordWait
// after it waited, RecordGet / RecordGetOrFail / RecordTake / RecordPut with
// the amount and the new value after each, all under the Throttle's lock,
// which the throttle uses as its own.
package perf
