package echo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// PingPong sends len(rtts) messages of size bytes over one new connection to
// addr, each after the previous echo came back, and stores each round trip
// in rtts. The echoed bytes are checked. ctx bounds the whole run.
func PingPong(ctx context.Context, addr string, size int, rtts []time.Duration) (err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return fmt.Errorf("echo: dial: %w", err)
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return fmt.Errorf("echo: set deadline: %w", err)
		}
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

// Pipeline sends n messages of size bytes over conns connections to the
// byte echo at addr, keeping up to inflight messages outstanding on each,
// and waits until every byte came back. Each connection has a writer and
// a reader goroutine; the first error closes every connection and is
// returned.
func Pipeline(ctx context.Context, addr string, conns, inflight, size, n int) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	stop := make(chan struct{})
	var cs []net.Conn
	fail := func(err error) {
		once.Do(func() {
			first = err
			close(stop)
			for _, c := range cs {
				_ = c.Close() // only to unblock its reader and writer: first is the error
			}
		})
	}
	for i := 0; i < conns; i++ {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", addr)
		if err != nil {
			for _, c := range cs {
				err = errors.Join(err, c.Close())
			}
			return err
		}
		cs = append(cs, c)
	}
	defer func() {
		for _, c := range cs {
			_ = c.Close() // fail may have closed it already: the error would be "use of closed connection"
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			fail(ctx.Err())
		case <-stop:
		}
	}()
	for i, c := range cs {
		count := n / conns
		if i < n%conns {
			count++
		}
		credit := make(chan struct{}, inflight)
		wg.Add(2)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			for k := 0; k < count; k++ {
				select {
				case credit <- struct{}{}:
				case <-stop:
					return
				}
				if _, err := c.Write(msg); err != nil {
					fail(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for k := 0; k < count; k++ {
				if _, err := io.ReadFull(c, buf); err != nil {
					fail(err)
					return
				}
				<-credit
			}
		}()
	}
	wg.Wait()
	once.Do(func() { close(stop) }) // ends the ctx watcher
	return first
}
