package conn

import (
	"log/slog"
	"time"

	"github.com/gomsgr/gomsgr/auth"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/center"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Options configures a Messenger. Zero fields take the defaults named in
// their comments, which are Ceph's ms_* defaults where Ceph has one.
type Options struct {
	// Name is the entity this messenger speaks for (required type; a
	// negative number means "new", as for a client before the mon assigns
	// one).
	Name gomsgr.EntityName
	// Nonce distinguishes this messenger instance in its addresses;
	// default: random.
	Nonce uint32
	// Workers is the number of event-loop workers (ms_async_op_threads,
	// default 3). Ignored when Stack is set.
	Workers int
	// Center configures each worker's event loop (driver, wait mode, spin).
	Center center.Config
	// Stack, when set, is a running stack shared with other messengers
	// (Ceph's process-wide NetworkStack); the messenger does not stop it.
	//
	// When it is nil, the messenger shares the process-wide stack of its
	// Workers and Center configuration with every other messenger of that
	// configuration (center.Acquire, Ceph's StackSingleton), and the last
	// of them to shut down stops it: many messengers in one process run
	// Workers workers, not that many each. OwnStack gives the messenger
	// workers of its own, as does a Center.OnBusy hook.
	Stack *center.Stack
	// OwnStack makes the messenger start (and stop) workers of its own
	// instead of sharing the process-wide stack.
	OwnStack bool
	// BindPortMin and BindPortMax, when set, make Bind with port 0 scan
	// that range as Ceph does (its ms_bind_port_min 6800 and
	// ms_bind_port_max 7568) instead of taking a kernel-chosen port.
	BindPortMin, BindPortMax int
	// BindRetryCount and BindRetryDelay retry a range scan that found no
	// free port (ms_bind_retry_count 3, ms_bind_retry_delay 5s), until
	// Bind's context ends.
	BindRetryCount int
	BindRetryDelay time.Duration
	// ListenBacklog is the listen queue length (ms_tcp_listen_backlog 512).
	ListenBacklog int
	// PrefetchBytes is each connection's read buffer
	// (ms_tcp_prefetch_max_size; Ceph's 4 KiB is too small for batching,
	// default 64 KiB). Frames larger than it are read into a buffer of
	// their own.
	PrefetchBytes int
	// ReadyTimeout bounds connect + handshake (ms_connection_ready_timeout
	// 10s), on both sides: an accepted connection that is not ready
	// within it (parked anywhere in banner, hello, auth or ident) is
	// closed too.
	ReadyTimeout time.Duration
	// IdleTimeout closes a connection with no input for that long
	// (ms_connection_idle_timeout 900s).
	IdleTimeout time.Duration
	// DispatchThrottleBytes bounds the payload bytes of received messages
	// queued or being dispatched, messenger-wide
	// (ms_dispatch_throttle_bytes, 100 MiB); negative disables it.
	DispatchThrottleBytes int64
	// ThrottleRetry is how often a connection stopped by a throttle tries
	// again (default 1ms).
	ThrottleRetry time.Duration
	// MaxSegmentBytes bounds each frame segment a peer may send (default
	// msgr2.DefaultMaxSegmentBytes, 64 MiB). Memory per connection is
	// bounded by it; before the session is open, frames are limited to
	// PrefetchBytes.
	MaxSegmentBytes uint32
	// DisableTCPNoDelay leaves Nagle's algorithm on: TCP_NODELAY is set
	// on every socket unless this is true (Ceph's ms_tcp_nodelay, default
	// true, is the opposite switch).
	DisableTCPNoDelay bool
	// RcvBufBytes sets SO_RCVBUF when positive (ms_tcp_rcvbuf 0).
	RcvBufBytes int
	// NoCounters turns the perf counters off. Counting costs a few clock
	// reads and atomic adds per handler run, not per message (see
	// SampleEvery); BenchmarkCounting measures how much.
	NoCounters bool
	// FailOnSkippedMessage faults a connection whose peer's message seqs
	// skip (Ceph's ms_die_on_skipped_message, default false, which aborts
	// the daemon; a library fails the session instead). Without it the
	// message is delivered, the gap counted in SessionStats.Skipped and
	// logged at Info: a SESSION_RESET that keeps the queue makes such gaps
	// in Ceph and here.
	FailOnSkippedMessage bool
	// Auth says how the messenger authenticates its peers and protects
	// its connections: the auth methods (none, cephx) and connection
	// modes it offers and accepts, its key and the keyring of the peers
	// it accepts. nil speaks auth none in crc mode both ways. See package
	// auth.
	Auth *auth.Config
	// SampleEvery is how many messages share one timing: one message in
	// SampleEvery is timed for msgr_send_messages_queue_lat, one ACK in
	// SampleEvery for msgr_handle_ack_lat (their averages and histograms
	// are over the sampled ones, so their counts are about 1/SampleEvery
	// of the messages), and one fast dispatch in SampleEvery for
	// msgr_running_fast_dispatch_time, whose sampled durations count
	// SampleEvery times each. The first message of each connection is
	// always sampled. Zero means 64; 1 times every message, as Ceph does.
	// It is rounded up to a power of two. Message and byte counts are
	// always exact.
	SampleEvery int
	// Perf, when set, is the counter set to count into (shared by
	// messengers that share a Stack); default: a new set named after Name.
	Perf *perf.Set
	// InitialBackoff and MaxBackoff bound the wait before a lossless
	// session that failed while connecting dials again: the first wait is
	// InitialBackoff, each next one doubles up to MaxBackoff
	// (ms_initial_backoff 0.2s, ms_max_backoff 15s).
	InitialBackoff, MaxBackoff time.Duration
	// MessageProgressTimeout bounds how long a MESSAGE frame may take to
	// arrive whole once its receive-throttle budget was taken at its
	// preamble (gomsgr's own; Ceph has none). A connection that holds
	// budget past it is faulted with gomsgr.ErrStalled (counted in
	// msgr_connection_stalls) and the budget is given back, so that a
	// peer claiming large payloads and sending them slowly or never
	// stalls other clients for at most this long. Default 30s: a
	// connection never waits on us while it holds budget (we read it at
	// once), so a legitimate sender needs only its own bandwidth; 30s
	// takes a 90 MiB write (osd_max_write_size) at 3 MB/s, yet a stranger
	// cannot hold the budget for the 15 minutes of IdleTimeout. Negative
	// turns it off.
	MessageProgressTimeout time.Duration
	// ThrottleShare is the fraction of each byte throttle
	// (Policy.ThrottleBytes, DispatchThrottleBytes) that one frame may
	// take while anyone else holds budget from it (gomsgr's own, default
	// 1/4). A frame claiming more waits, its connection not reading,
	// until the throttle holds nothing, then goes alone (as Ceph lets an
	// oversized message through an empty throttle): one connection cannot
	// take everything while others need it, and a message larger than the
	// share is still received once the throttle drains. Under constant
	// load from others such a message waits for a moment when the
	// throttle is empty, so keep the share well above the usual message
	// size. Negative or >= 1 turns the share off (Ceph's rule only).
	ThrottleShare float64
	// MaxHandshaking bounds the accepted connections that are not ready
	// yet (banner, hello, auth and ident exchanges, however many rounds
	// auth takes; gomsgr's own, default 4096). Past it a newly accepted
	// socket is closed at once (counted in msgr_handshakes_refused); the
	// peer retries with its backoff. ReadyTimeout closes handshakes that
	// do not finish in time, on either side. 4096 handshakes are a storm
	// of reconnects (a server restarting under thousands of clients stays
	// below it), while each parked one may pin a prefetch buffer until
	// ReadyTimeout (at most 256 MiB in all with the default 64 KiB). Negative turns the
	// bound off.
	MaxHandshaking int
	// Testing holds the test hooks (step hooks, fault injection, interop
	// switches); nil in production.
	Testing *testhooks.Config
	// Logger receives connection faults and accept errors (quiet by
	// default: warnings and errors only through slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 3
	}
	msgrbase.Defaults{
		BindRetryCount: &o.BindRetryCount, BindRetryDelay: &o.BindRetryDelay,
		PrefetchBytes: &o.PrefetchBytes, ReadyTimeout: &o.ReadyTimeout, IdleTimeout: &o.IdleTimeout,
		DispatchThrottleBytes: &o.DispatchThrottleBytes, SampleEvery: &o.SampleEvery, Logger: &o.Logger,
		MessageProgressTimeout: &o.MessageProgressTimeout, ThrottleShare: &o.ThrottleShare, MaxHandshaking: &o.MaxHandshaking,
	}.SetDefaults()
	if o.ListenBacklog <= 0 {
		o.ListenBacklog = 512
	}
	if o.ThrottleRetry <= 0 {
		o.ThrottleRetry = time.Millisecond
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Second
	}
	return o
}
