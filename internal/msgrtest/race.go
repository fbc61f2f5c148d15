//go:build race

package msgrtest

const raceEnabled = true
