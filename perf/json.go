package perf

import (
	"encoding/json"
	"io"
	"strconv"
)

// WriteJSON writes the Set like Ceph's `perf dump`: one object per logger,
// the workers ("AsyncMessenger::Worker-N", in ID order) then the throttles
// ("throttle-<name>", by name), indented by four spaces as Ceph's pretty
// JSON. Counters and gauges are integers; KindTime counters are seconds with
// nine decimals; KindTimeAvg counters are {"avgcount", "sum", "avgtime"} with
// sum and avgtime in seconds. Keys within a logger follow Ceph's enum order.
func (s *Set) WriteJSON(w io.Writer) error {
	b := []byte("{")
	first := true
	for _, wk := range s.Workers() {
		b = appendLogger(b, &first, wk.LoggerName())
		snap := wk.Snapshot()
		for c := range NumCounters {
			b = appendKey(b, 2, c == 0, descs[c].Name)
			switch kinds[c] {
			case KindGauge:
				b = strconv.AppendInt(b, snap.Gauge(c), 10)
			case KindTime:
				b = appendSeconds(b, snap.vals[c])
			case KindTimeAvg:
				b = appendAvg(b, 2, snap.count[c], snap.vals[c])
			default:
				b = strconv.AppendUint(b, snap.vals[c], 10)
			}
		}
		b = append(b, "\n    }"...)
	}
	for _, t := range s.Throttles() {
		b = appendLogger(b, &first, t.LoggerName())
		ts := t.Snapshot()
		b = appendKey(b, 2, true, "val")
		b = strconv.AppendInt(b, ts.Val, 10)
		b = appendKey(b, 2, false, "max")
		b = strconv.AppendInt(b, ts.Max, 10)
		for _, kv := range [...]struct {
			k string
			v uint64
		}{
			{"get_started", ts.GetStarted}, {"get", ts.Get}, {"get_sum", ts.GetSum},
			{"get_or_fail_fail", ts.GetOrFailFail}, {"get_or_fail_success", ts.GetOrFailSuccess},
			{"take", ts.Take}, {"take_sum", ts.TakeSum}, {"put", ts.Put}, {"put_sum", ts.PutSum},
		} {
			b = appendKey(b, 2, false, kv.k)
			b = strconv.AppendUint(b, kv.v, 10)
		}
		b = appendKey(b, 2, false, "wait")
		b = appendAvg(b, 2, ts.Wait.Count, uint64(ts.Wait.Sum))
		b = append(b, "\n    }"...)
	}
	if first {
		b = append(b, '}', '\n') // no loggers: "{}", as Ceph
	} else {
		b = append(b, "\n}\n"...)
	}
	_, err := w.Write(b)
	return err
}

func appendLogger(b []byte, first *bool, name string) []byte {
	b = appendKey(b, 1, *first, name)
	*first = false
	return append(b, '{')
}

// appendKey appends a key at the given nesting depth, after a comma unless
// it is the first in its object.
func appendKey(b []byte, depth int, first bool, key string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '\n')
	for range depth {
		b = append(b, "    "...)
	}
	q, _ := json.Marshal(key) // a string always marshals
	b = append(b, q...)
	return append(b, ": "...)
}

// appendAvg appends Ceph's time_avg object.
func appendAvg(b []byte, depth int, count, sumNs uint64) []byte {
	var avg uint64
	if count > 0 {
		avg = sumNs / count
	}
	b = append(b, '{')
	b = appendKey(b, depth+1, true, "avgcount")
	b = strconv.AppendUint(b, count, 10)
	b = appendKey(b, depth+1, false, "sum")
	b = appendSeconds(b, sumNs)
	b = appendKey(b, depth+1, false, "avgtime")
	b = appendSeconds(b, avg)
	b = append(b, '\n')
	for range depth {
		b = append(b, "    "...)
	}
	return append(b, '}')
}

// appendSeconds appends ns as seconds with nine decimals, as Ceph prints
// time counters ("%d.%09d").
func appendSeconds(b []byte, ns uint64) []byte {
	b = strconv.AppendUint(b, ns/1e9, 10)
	b = append(b, '.')
	frac := ns % 1e9
	for d := uint64(1e8); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}
