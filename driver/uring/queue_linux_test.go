package uring

import "testing"

// TestOwesWork checks when a poll enters the kernel though nothing is
// queued: when the SQ flags say the kernel owes completions, or when the
// ring defers task work without flagging it and the caller has none.
func TestOwesWork(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    uint32 // setup flags of the ring
		sqFlags  uint32 // the kernel's SQ flags word
		haveCQEs bool
		want     bool
	}{
		{"default idle", 0, 0, false, false},
		{"default overflow", 0, sqCQOverflow, true, true},
		{"coop idle", setupCoopTaskrun | setupTaskrunFlag, 0, false, false},
		{"coop task work", setupCoopTaskrun | setupTaskrunFlag, sqTaskrun, true, true},
		{"defer unflagged, none in hand", setupSingleIssuer | setupDeferTaskrun, 0, false, true},
		{"defer unflagged, some in hand", setupSingleIssuer | setupDeferTaskrun, 0, true, false},
		{"defer flagged idle", setupSingleIssuer | setupDeferTaskrun | setupTaskrunFlag, 0, false, false},
	} {
		word := tc.sqFlags
		r := &ring{flags: tc.setup, sqFlags: &word}
		if got := r.owesWork(tc.haveCQEs); got != tc.want {
			t.Errorf("%s: owesWork(%v) = %v, want %v", tc.name, tc.haveCQEs, got, tc.want)
		}
	}
}
