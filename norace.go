//go:build !race

package gomsgr

const raceEnabled = false
