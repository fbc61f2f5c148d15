package center

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
)

// Worker is one event-loop goroutine and the Center it owns (Ceph's Worker).
// Connections pinned to a worker hold a reference on it, so that the Stack
// can pick the least-loaded worker for the next one.
type Worker struct {
	id     int
	center *Center
	refs   atomic.Int64
	done   chan struct{}
	err    error
}

// ID returns the worker's index in its Stack.
func (w *Worker) ID() int { return w.id }

// Center returns the worker's event loop.
func (w *Worker) Center() *Center { return w.center }

// Refs returns the number of references held on the worker.
func (w *Worker) Refs() int64 { return w.refs.Load() }

// Release drops a reference taken by Stack.Pick.
func (w *Worker) Release() { w.refs.Add(-1) }

// StackConfig configures a Stack.
type StackConfig struct {
	// Name labels the stack's worker goroutines in profiles ("gomsgr.stack").
	Name string
	// Workers is the number of workers (Ceph's ms_async_op_threads).
	// Default runtime.GOMAXPROCS(0).
	Workers int
	// Center configures every worker's center; its ID is set per worker.
	Center Config
}

// Stack owns a set of workers (Ceph's NetworkStack): it starts them, hands
// out the least-loaded one, and stops them in a defined order.
type Stack struct {
	name    string
	workers []*Worker
	mu      sync.Mutex // serializes Pick's choice and Stop
	stopped bool

	// A shared stack's (Acquire): its registry key, its users' busy
	// hooks and how many users hold it (under shared.mu).
	key   sharedKey
	busy  *busyHooks
	users int
}

// NewStack creates and starts the workers. Each worker goroutine carries
// pprof labels gomsgr.stack=<name> and gomsgr.worker=<id>, so a CPU profile
// shows each worker's time.
func NewStack(cfg StackConfig) (*Stack, error) {
	n := cfg.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s := &Stack{name: cfg.Name}
	for i := 0; i < n; i++ {
		ccfg := cfg.Center
		ccfg.ID = i
		c, err := New(ccfg)
		if err != nil {
			// Stop the workers already started; its error joins ours.
			return nil, errors.Join(fmt.Errorf("stack %q: worker %d: %w", cfg.Name, i, err), s.Stop(context.Background()))
		}
		w := &Worker{id: i, center: c, done: make(chan struct{})}
		s.workers = append(s.workers, w)
		labels := pprof.Labels("gomsgr.stack", cfg.Name, "gomsgr.worker", strconv.Itoa(i))
		go pprof.Do(context.Background(), labels, func(context.Context) {
			defer close(w.done)
			w.err = w.center.Run()
		})
	}
	return s, nil
}

// Name returns the stack's name (its workers' gomsgr.stack label).
func (s *Stack) Name() string { return s.name }

// Workers returns the stack's workers.
func (s *Stack) Workers() []*Worker { return s.workers }

// Pick returns the worker with the fewest references and takes a reference
// on it (Ceph's get_worker). The caller calls Release when done with it.
func (s *Stack) Pick() *Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *Worker
	for _, w := range s.workers {
		if best == nil || w.refs.Load() < best.refs.Load() {
			best = w
		}
	}
	if best != nil {
		best.refs.Add(1)
	}
	return best
}

// Stop drains, stops and joins every worker, then closes their centers:
// first a barrier runs on each worker so that everything posted before Stop
// has run; then each loop is told to stop and Stop waits for its goroutine to
// return; finally each center is closed, which runs anything posted in the
// meantime. Stop must not be called from a worker goroutine. When ctx ends
// before the workers return, Stop returns its error and leaves them running.
func (s *Stack) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	var errs []error
	for _, w := range s.workers {
		if err := w.center.SubmitWait(ctx, func() {}); err != nil && !errors.Is(err, ErrClosed) {
			return fmt.Errorf("stack %q: drain worker %d: %w", s.name, w.id, err)
		}
	}
	for _, w := range s.workers {
		w.center.Stop()
	}
	for _, w := range s.workers {
		select {
		case <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("stack %q: join worker %d: %w", s.name, w.id, ctx.Err())
		}
		if w.err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", w.id, w.err))
		}
	}
	for _, w := range s.workers {
		if err := w.center.Close(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d: close: %w", w.id, err))
		}
	}
	s.stopped = true
	return errors.Join(errs...)
}
