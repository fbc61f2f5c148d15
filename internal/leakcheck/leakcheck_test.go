package leakcheck

import (
	"os"
	"testing"
)

type recorder struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }
func (r *recorder) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Helper()                           {}

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestDetectsFdLeak(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	r.finish()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if len(r.errs) != 1 {
		t.Fatalf("leaked fd: got %d errors, want 1", len(r.errs))
	}
}

func TestDetectsGoroutineLeak(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	stop := make(chan struct{})
	go func() { <-stop }()
	r.finish()
	close(stop)
	if len(r.errs) != 1 {
		t.Fatalf("leaked goroutine: got %d errors, want 1", len(r.errs))
	}
}

func TestCleanPasses(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r.finish()
	if len(r.errs) != 0 {
		t.Fatalf("clean test reported %v", r.errs)
	}
}
