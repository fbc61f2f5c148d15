package simple

import (
	"log/slog"
	"time"

	"github.com/gomsgr/gomsgr/auth"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/msgrbase"
	"github.com/gomsgr/gomsgr/perf"
	"github.com/gomsgr/gomsgr/testhooks"
)

// Options configures a Messenger. Zero fields take the defaults named in
// their comments, which are Ceph's ms_* defaults where Ceph has one. The
// names and defaults match conn.Options, minus the event-loop fields
// (Workers, Center, Stack) and ListenBacklog, which net.Listen does not
// expose (the kernel's somaxconn applies).
type Options struct {
	// Name is the entity this messenger speaks for (required type; a
	// negative number means "new", as for a client before the mon assigns
	// one).
	Name gomsgr.EntityName
	// Nonce distinguishes this messenger instance in its addresses;
	// default: random.
	Nonce uint32
	// BindPortMin and BindPortMax, when set, make Bind with port 0 scan
	// that range as Ceph does (its ms_bind_port_min 6800 and
	// ms_bind_port_max 7568) instead of taking a kernel-chosen port.
	BindPortMin, BindPortMax int
	// BindRetryCount and BindRetryDelay retry a range scan that found no
	// free port (ms_bind_retry_count 3, ms_bind_retry_delay 5s), until
	// Bind's context ends.
	BindRetryCount int
	// BindRetryDelay is the pause between two bind attempts.
	BindRetryDelay time.Duration
	// PrefetchBytes is each connection's read buffer
	// (ms_tcp_prefetch_max_size; Ceph's 4 KiB is too small for batching,
	// default 64 KiB). Frames larger than it are read into a buffer of
	// their own, which the received message keeps.
	PrefetchBytes int
	// ReadyTimeout bounds connect + handshake (ms_connection_ready_timeout
	// 10s), on both sides: an accepted connection that is not ready
	// within it (parked anywhere in banner, hello, auth or ident) is
	// closed too.
	ReadyTimeout time.Duration
	// IdleTimeout closes a connection with no input for that long
	// (ms_connection_idle_timeout 900s).
	IdleTimeout time.Duration
	// MaxSegmentBytes bounds each frame segment a peer may send (default
	// msgr2.DefaultMaxSegmentBytes, 64 MiB). Memory per connection is
	// bounded by it; before the session is ready, frames are limited to
	// 64 KiB.
	MaxSegmentBytes uint32
	// DisableTCPNoDelay leaves Nagle's algorithm on: TCP_NODELAY is set
	// on every socket unless this is true (Ceph's ms_tcp_nodelay, default
	// true, is the opposite switch).
	DisableTCPNoDelay bool
	// RcvBufBytes sets SO_RCVBUF when positive (ms_tcp_rcvbuf 0).
	RcvBufBytes int
	// DispatchThrottleBytes bounds the payload bytes of received messages
	// that are queued or being dispatched (ms_dispatch_throttle_bytes,
	// 100 MiB); negative disables it. Policy.ThrottleBytes and
	// ThrottleMessages bound them per peer type. A reader that finds no
	// room waits before reading the rest of the message.
	DispatchThrottleBytes int64
	// Perf, when set, is the counter set to count into (shared with other
	// messengers or exported by the caller); default: a new set named after
	// Name. Ceph's SimpleMessenger has one logger; simple spreads its
	// connections over GOMAXPROCS workers of the set, round robin, so that
	// goroutines on different CPUs rarely update the same counters.
	Perf *perf.Set
	// InitialBackoff and MaxBackoff bound the wait before a lossless
	// session that failed while connecting dials again: the first wait is
	// InitialBackoff, each next one doubles up to MaxBackoff
	// (ms_initial_backoff 0.2s, ms_max_backoff 15s).
	InitialBackoff, MaxBackoff time.Duration
	// FailOnSkippedMessage faults a connection whose peer's message seqs
	// skip (Ceph's ms_die_on_skipped_message, default false); without it
	// the message is delivered and the gap counted in
	// SessionStats.Skipped, as in conn.
	FailOnSkippedMessage bool
	// Auth says how the messenger authenticates its peers and protects
	// its connections: the auth methods (none, cephx) and connection
	// modes it offers and accepts, its key and the keyring of the peers
	// it accepts. nil speaks auth none in crc mode both ways. See package
	// auth.
	Auth *auth.Config
	// SampleEvery is how many events share one timing, as in conn: one
	// message in SampleEvery is timed for msgr_send_messages_queue_lat,
	// one read's processing in SampleEvery for msgr_running_recv_time and
	// one write in SampleEvery for msgr_running_send_time (a sampled
	// duration counts SampleEvery times in the sums). Zero means 64; 1
	// times every event, as Ceph does. It is rounded up to a power of two.
	// Message and byte counts are always exact.
	SampleEvery int
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
	msgrbase.Defaults{
		BindRetryCount: &o.BindRetryCount, BindRetryDelay: &o.BindRetryDelay,
		PrefetchBytes: &o.PrefetchBytes, ReadyTimeout: &o.ReadyTimeout, IdleTimeout: &o.IdleTimeout,
		DispatchThrottleBytes: &o.DispatchThrottleBytes, SampleEvery: &o.SampleEvery, Logger: &o.Logger,
		MessageProgressTimeout: &o.MessageProgressTimeout, ThrottleShare: &o.ThrottleShare, MaxHandshaking: &o.MaxHandshaking,
	}.SetDefaults()
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Second
	}
	return o
}
