//go:build race

package rxbuf

const raceEnabled = true
