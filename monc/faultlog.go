package monc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// faultLog is the messenger's slog handler: it forwards every record to the
// user's handler and keeps the error of the last "connection closed" record,
// which says why a connection failed (refused, ready timeout, a protocol
// error during the handshake). It is the fallback for a connection that
// cannot say so itself: sessionFailed prefers the connection's Err
// (conn.Connection has one). The client has one connection at a time, so
// the last record is the one that a reset or refused event is about: the
// messenger logs before it queues the event.
type faultLog struct {
	next slog.Handler

	mu  *sync.Mutex
	err *error
}

func newFaultLog(next slog.Handler) *faultLog {
	return &faultLog{next: next, mu: new(sync.Mutex), err: new(error)}
}

const closedMsg = "conn: connection closed"

// Enabled implements slog.Handler: the close records are wanted at any
// level.
func (f *faultLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug || f.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (f *faultLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == closedMsg {
		var err error
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "err" {
				return true
			}
			if e, ok := a.Value.Any().(error); ok {
				err = e
			} else {
				err = errors.New(fmt.Sprint(a.Value.Any()))
			}
			return false
		})
		if err != nil {
			f.mu.Lock()
			*f.err = err
			f.mu.Unlock()
		}
	}
	if !f.next.Enabled(ctx, r.Level) {
		return nil
	}
	return f.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (f *faultLog) WithAttrs(as []slog.Attr) slog.Handler {
	g := *f
	g.next = f.next.WithAttrs(as)
	return &g
}

// WithGroup implements slog.Handler.
func (f *faultLog) WithGroup(name string) slog.Handler {
	g := *f
	g.next = f.next.WithGroup(name)
	return &g
}

// reset forgets the last error (a new attempt starts).
func (f *faultLog) reset() {
	f.mu.Lock()
	*f.err = nil
	f.mu.Unlock()
}

// take returns and forgets the last error.
func (f *faultLog) take() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := *f.err
	*f.err = nil
	return err
}
