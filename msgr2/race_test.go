//go:build race

package msgr2

const raceEnabled = true
