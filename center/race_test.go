//go:build race

package center

const raceEnabled = true
