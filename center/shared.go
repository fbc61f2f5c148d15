package center

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Shared stacks: Ceph gives every messenger of a process the same
// NetworkStack (its StackSingleton), so that a daemon with many messengers
// runs ms_async_op_threads workers, not that many per messenger. Acquire is
// that singleton, one per configuration: messengers that ask for the same
// workers and center configuration share one stack, and the last to release
// it stops it.
//
// It matters most with io_uring: a worker on a locked thread (WaitThread)
// per messenger puts one OS thread per messenger on the Ps, and sixteen
// single-worker messengers at GOMAXPROCS=1 handed the one P between sixteen
// threads (two context switches per loop turn), where one shared worker
// serves all sixteen connections on one thread.

var shared struct {
	mu     sync.Mutex
	stacks map[sharedKey]*Stack
}

// sharedKey is what makes two configurations the same stack: the
// configuration with its defaults applied, less the per-user hook.
type sharedKey struct {
	workers, events, wheelSlots, queueSize int
	driver                                 string
	wait                                   WaitMode
	io                                     IOMode
	spin, tick                             time.Duration
	logger                                 *slog.Logger
}

func keyOf(workers int, c Config) sharedKey {
	c = c.withDefaults()
	return sharedKey{workers: workers, events: c.Events, wheelSlots: c.WheelSlots, queueSize: c.QueueSize,
		driver: c.Driver, wait: c.Wait, io: c.IO, spin: c.Spin, tick: c.Tick, logger: c.Logger}
}

// busyHooks is a shared stack's fan-out of Config.OnBusy to its users.
type busyHooks struct {
	next  int                        // the next hook's id; under shared.mu
	hooks atomic.Pointer[[]busyHook] // replaced, never changed in place
}

type busyHook struct {
	id int
	fn func(worker int, busy time.Duration)
}

func (b *busyHooks) call(worker int, busy time.Duration) {
	for _, h := range *b.hooks.Load() {
		h.fn(worker, busy)
	}
}

// Acquire returns the process-wide stack for cfg, creating and starting it
// when no stack of that configuration runs (Ceph's StackSingleton); each
// Acquire is paired with one Release. cfg.Name names a new stack's workers
// in profiles (default "shared"); cfg.Center.OnBusy must be nil, since a
// shared stack calls the hooks its users add with OnBusy.
func Acquire(cfg StackConfig) (*Stack, error) {
	if cfg.Center.OnBusy != nil {
		return nil, fmt.Errorf("center: a shared stack takes its users' hooks through Stack.OnBusy, not Config.OnBusy")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	key := keyOf(cfg.Workers, cfg.Center)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.stacks[key]; s != nil {
		s.users++
		return s, nil
	}
	if cfg.Name == "" {
		cfg.Name = "shared"
	}
	hooks := new(busyHooks)
	hooks.hooks.Store(new([]busyHook))
	cfg.Center.OnBusy = hooks.call
	s, err := NewStack(cfg)
	if err != nil {
		return nil, err
	}
	s.key, s.busy, s.users = key, hooks, 1
	if shared.stacks == nil {
		shared.stacks = map[sharedKey]*Stack{}
	}
	shared.stacks[key] = s
	return s, nil
}

// Release drops the reference Acquire took; the last one stops the stack
// (see Stop) and removes it, so that a later Acquire starts a new one. A
// stack made by NewStack is stopped by Stop, not Release.
func (s *Stack) Release(ctx context.Context) error {
	shared.mu.Lock()
	if s.busy == nil || s.users <= 0 {
		shared.mu.Unlock()
		return fmt.Errorf("center: Release of stack %q, which Acquire did not return", s.name)
	}
	s.users--
	if s.users > 0 {
		shared.mu.Unlock()
		return nil
	}
	delete(shared.stacks, s.key)
	shared.mu.Unlock()
	return s.Stop(ctx)
}

// OnBusy adds fn to the hooks a shared stack calls after each busy turn
// of a worker (Config.OnBusy's contract) and returns the function that
// removes it. After remove returns, a worker may still be calling fn for
// the turn it is in; a barrier on each worker (Center.SubmitWait) ends
// that. On a stack made by NewStack it returns an error.
func (s *Stack) OnBusy(fn func(worker int, busy time.Duration)) (remove func(), err error) {
	if s.busy == nil {
		return nil, fmt.Errorf("center: stack %q is not shared; set Config.OnBusy instead", s.name)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	id := s.busy.next
	s.busy.next++
	hs := append(slices.Clone(*s.busy.hooks.Load()), busyHook{id: id, fn: fn})
	s.busy.hooks.Store(&hs)
	return func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		hs := slices.DeleteFunc(slices.Clone(*s.busy.hooks.Load()), func(h busyHook) bool { return h.id == id })
		s.busy.hooks.Store(&hs)
	}, nil
}
