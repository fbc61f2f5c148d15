//go:build race

package framing

const raceEnabled = true
