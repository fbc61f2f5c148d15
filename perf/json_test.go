package perf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenSet is a Set with known values in every kind of counter.
func goldenSet() *Set {
	s := NewSet("golden")
	w0, w1 := s.AddWorker(), s.AddWorker()
	w0.Add(RecvMessages, 12)
	w0.Add(SendMessages, 10)
	w0.Add(RecvBytes, 4096)
	w0.Add(SendBytes, 2048)
	w0.Add(CreatedConnections, 3)
	w0.Inc(ActiveConnections)
	w0.AddTime(RunningTotalTime, 1500*time.Millisecond)
	w0.AddTime(RunningSendTime, 1234567*time.Nanosecond)
	w0.AddTime(RunningRecvTime, 42*time.Second+5)
	w0.AddTime(SendMessagesQueueLat, 3*time.Microsecond)
	w0.AddTime(SendMessagesQueueLat, 5*time.Microsecond)
	w0.Inc(ConnectionIdleTimeouts)
	w1.Dec(ActiveConnections) // closed a connection worker 0 opened
	w1.AddTime(HandleAckLat, time.Millisecond)
	w1.Add(SendEncryptedBytes, 7)
	th := s.AddThrottle("msgr_dispatch_throttler-client", 104857600)
	th.RecordGetStarted()
	th.RecordGet(100, 100)
	th.RecordGetOrFail(true, 50, 150)
	th.RecordGetOrFail(false, 1<<30, 150)
	th.RecordTake(10, 160)
	th.RecordPut(160, 0)
	th.RecordWait(2 * time.Millisecond)
	s.AddThrottle("a-first", 1) // sorted before the other
	return s
}

// TestWriteJSONGolden compares the dump with testdata/perf_dump.json
// byte for byte (go test ./perf -run Golden -update rewrites it).
func TestWriteJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenSet().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "perf_dump.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("dump differs from %s:\n got:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}

// TestWriteJSONShape decodes the dump and checks Ceph's structure: loggers
// by name, plain numbers for counters and times, {avgcount, sum, avgtime}
// for averages.
func TestWriteJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenSet().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var dump map[string]map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &dump); err != nil {
		t.Fatalf("dump is not JSON of loggers: %v\n%s", err, buf.Bytes())
	}
	for _, name := range []string{"AsyncMessenger::Worker-0", "AsyncMessenger::Worker-1", "throttle-msgr_dispatch_throttler-client", "throttle-a-first"} {
		if _, ok := dump[name]; !ok {
			t.Errorf("no logger %q in %v", name, keys(dump))
		}
	}
	w0 := dump["AsyncMessenger::Worker-0"]
	if len(w0) != int(NumCounters) {
		t.Errorf("worker has %d counters, want %d", len(w0), NumCounters)
	}
	num := func(logger, key string) float64 {
		var f float64
		if err := json.Unmarshal(dump[logger][key], &f); err != nil {
			t.Errorf("%s.%s = %s: not a number", logger, key, dump[logger][key])
		}
		return f
	}
	if got := num("AsyncMessenger::Worker-0", "msgr_recv_messages"); got != 12 {
		t.Errorf("msgr_recv_messages = %v", got)
	}
	if got := num("AsyncMessenger::Worker-0", "msgr_running_total_time"); got != 1.5 {
		t.Errorf("msgr_running_total_time = %v, want 1.5 (seconds)", got)
	}
	if got := num("AsyncMessenger::Worker-1", "msgr_active_connections"); got != -1 {
		t.Errorf("worker 1 msgr_active_connections = %v, want -1", got)
	}
	var avg struct {
		AvgCount *uint64  `json:"avgcount"`
		Sum      *float64 `json:"sum"`
		AvgTime  *float64 `json:"avgtime"`
	}
	if err := json.Unmarshal(w0["msgr_send_messages_queue_lat"], &avg); err != nil || avg.AvgCount == nil || avg.Sum == nil || avg.AvgTime == nil {
		t.Fatalf("msgr_send_messages_queue_lat = %s (%v), want {avgcount, sum, avgtime}", w0["msgr_send_messages_queue_lat"], err)
	}
	if *avg.AvgCount != 2 || *avg.Sum != 8e-6 || *avg.AvgTime != 4e-6 {
		t.Errorf("queue lat = %d, %v, %v; want 2, 8e-6, 4e-6", *avg.AvgCount, *avg.Sum, *avg.AvgTime)
	}
	th := "throttle-msgr_dispatch_throttler-client"
	for key, want := range map[string]float64{
		"val": 0, "max": 104857600, "get_started": 1, "get": 2, "get_sum": 150,
		"get_or_fail_fail": 1, "get_or_fail_success": 1, "take": 1, "take_sum": 10,
		"put": 1, "put_sum": 160,
	} {
		if got := num(th, key); got != want {
			t.Errorf("%s.%s = %v, want %v", th, key, got, want)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteJSONError(t *testing.T) {
	if err := goldenSet().WriteJSON(failWriter{}); err == nil {
		t.Error("WriteJSON hid the writer's error")
	}
}

func TestAppendSeconds(t *testing.T) {
	for ns, want := range map[uint64]string{
		0: "0.000000000", 1: "0.000000001", 999999999: "0.999999999",
		1e9: "1.000000000", 123456789012: "123.456789012",
	} {
		if got := string(appendSeconds(nil, ns)); got != want {
			t.Errorf("appendSeconds(%d) = %s, want %s", ns, got, want)
		}
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := NewSet("empty").WriteJSON(&buf); err != nil || buf.String() != "{}\n" {
		t.Errorf("empty dump = %q, %v; want {}", buf.String(), err)
	}
}
