//go:build !race

package center

const raceEnabled = false
