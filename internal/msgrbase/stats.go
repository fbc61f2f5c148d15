package msgrbase

import "sync/atomic"

// SessionCounters count what a messenger's sessions went through; the
// messengers report them as their SessionStats.
type SessionCounters struct {
	Faults, Reconnects, Standbys, Requeued, Replayed, Duplicates atomic.Uint64
	Replacements, RemoteResets, Skipped, AuthFailures            atomic.Uint64
	InjSocket, InjCongestion, InjDelays, InjRecvDelays           atomic.Uint64
}
