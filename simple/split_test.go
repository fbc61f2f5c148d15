package simple_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/internal/leakcheck"
	"github.com/gomsgr/gomsgr/simple"
)

// chopProxy forwards one connection to target, writing what it reads in
// small random pieces, so that frames reach the peer split at arbitrary
// points.
func chopProxy(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		// Cleanup: a connection may be closed already by its copier.
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, err := ln.Accept()
		if err != nil {
			return // closed by the cleanup
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			t.Errorf("proxy: dial %s: %v", target, err)
			_ = in.Close() // the client sees its connection close
			return
		}
		mu.Lock()
		conns = append(conns, in, out)
		mu.Unlock()
		chop := func(dst, src net.Conn, seed uint64) {
			defer wg.Done()
			// The other copier or the cleanup may have closed dst already.
			defer func() { _ = dst.Close() }()
			r := rand.New(rand.NewPCG(seed, 1))
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				for b := buf[:n]; len(b) > 0; {
					k := min(len(b), 1+r.IntN(97))
					if _, err := dst.Write(b[:k]); err != nil {
						return
					}
					b = b[k:]
				}
				if err != nil {
					return
				}
			}
		}
		wg.Add(2)
		go chop(out, in, 1)
		go chop(in, out, 2)
	}()
	return ln.Addr().String()
}

// TestSplitFrames: messages small and larger than the prefetch buffer
// arrive intact and in order when every frame is split at random points.
func TestSplitFrames(t *testing.T) {
	for _, prefetch := range []int{4096, 0} {
		t.Run(fmt.Sprintf("prefetch=%d", prefetch), func(t *testing.T) { testSplitFrames(t, prefetch) })
	}
}

func testSplitFrames(t *testing.T, prefetch int) {
	leakcheck.Check(t)
	srv := newMsgr(t, simple.Options{Name: osd0, PrefetchBytes: prefetch})
	must(t, srv.SetDefaultPolicy(gomsgr.StatelessServer(0)))
	must(t, srv.AddDispatcher(echoAll{}))
	if err := srv.Bind(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	proxy := chopProxy(t, srv.Addrs()[0].Addr.String())
	cli := newMsgr(t, simple.Options{Name: client1, PrefetchBytes: prefetch})
	must(t, cli.SetDefaultPolicy(gomsgr.LossyClient(0)))
	got := make(chan *gomsgr.Message, 64)
	must(t, cli.AddDispatcher(gomsgr.DispatcherFunc(func(m *gomsgr.Message) { got <- m })))
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0]
	addr.Addr = mustAddrPort(t, proxy)
	c, err := cli.ConnectTo(gomsgr.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 1, 100, 4000, 4096, 5000, 70_000, 3, 200_000, 17}
	body := func(i, n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*13 + j*7)
		}
		return b
	}
	for i, n := range sizes {
		must(t, c.SendMessage(&gomsgr.Message{Type: 0x7001, Tid: uint64(i), Front: body(i, n%300), Data: body(i+1, n)}))
	}
	for i, n := range sizes {
		select {
		case m := <-got:
			if m.Tid != uint64(i) || !bytes.Equal(m.Front, body(i, n%300)) || !bytes.Equal(m.Data, body(i+1, n)) {
				t.Fatalf("echo %d: tid %d, front %d bytes, data %d bytes: differs from what was sent (%d-byte data)", i, m.Tid, len(m.Front), len(m.Data), n)
			}
			m.Release()
		case <-time.After(20 * time.Second):
			t.Fatalf("echo %d of %d did not come", i, len(sizes))
		}
	}
}

// echoAll echoes every message with the same front and data.
type echoAll struct{}

func (echoAll) Dispatch(m *gomsgr.Message) bool {
	// The connection may close as the test ends; a lost echo fails the
	// test that waits for it.
	_ = m.Conn.SendMessage(&gomsgr.Message{Type: m.Type, Tid: m.Tid, Front: bytes.Clone(m.Front), Data: bytes.Clone(m.Data)})
	m.Release()
	return true
}
