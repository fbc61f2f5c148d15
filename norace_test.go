//go:build !race

package gomsgr_test

const raceEnabled = false
