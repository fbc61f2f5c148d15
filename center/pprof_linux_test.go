package center

import (
	"io"
	"runtime/pprof"
)

func pprofGoroutines(w io.Writer) error { return pprof.Lookup("goroutine").WriteTo(w, 1) }
