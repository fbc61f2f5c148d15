package echo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// PingPong sends len(rtts) messages of size bytes over one new connection to
// addr, each after the previous echo came back, and stores each round trip
// in rtts. The echoed bytes are checked. ctx bounds the whole run.
func PingPong(ctx context.Context, addr string, size int, rtts []time.Duration) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return fmt.Errorf("echo: dial: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	back := make([]byte, size)
	for i := range rtts {
		msg[0] = byte(i)
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("echo: write %d: %w", i, err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return fmt.Errorf("echo: read %d: %w", i, err)
		}
		rtts[i] = time.Since(start)
		if !bytes.Equal(back, msg) {
			return fmt.Errorf("echo: round %d: echoed bytes differ", i)
		}
	}
	return nil
}

// Percentile returns the p-th percentile (0 < p <= 100) of rtts, sorting
// them in place.
func Percentile(rtts []time.Duration, p float64) time.Duration {
	if len(rtts) == 0 {
		return 0
	}
	if !slices.IsSorted(rtts) {
		slices.Sort(rtts)
	}
	i := int(float64(len(rtts))*p/100+0.5) - 1
	i = max(0, min(i, len(rtts)-1))
	return rtts[i]
}
