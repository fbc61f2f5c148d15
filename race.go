//go:build race

package gomsgr

// raceEnabled turns on the checks that cost a little per message: released
// messages are poisoned and their reuse panics (Message.Release).
const raceEnabled = true
