package peers

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/simple"
)

// link is one client connection of the load generator. roundTrip sends one
// message and waits for its echo; send (k messages, in one write where the
// protocol allows) and recv (one message) are the two halves, run by a
// writer and a reader goroutine when messages are pipelined. close unblocks
// both.
type link interface {
	roundTrip() error
	send(k int) error
	recv() error
	close()
}

// client opens links of one message size, with up to inflight messages
// outstanding, to one server. close reports a client that did not stop
// cleanly.
type client interface {
	open(size, inflight int) (link, error)
	close() error
}

func newClient(proto, addr string) (client, error) {
	if proto == "msgr2" {
		return newMsgr2Client(addr)
	}
	return &echoClient{addr: addr}, nil
}

// echoClient is the length-prefixed echo's client: a blocking net.Conn per
// link; a message is a 4-byte big-endian length then the payload, k
// messages go in one write, and replies are read through a 64 KiB
// bufio.Reader (so that a burst of small replies costs one read).
type echoClient struct{ addr string }

type echoLink struct {
	c    net.Conn
	br   *bufio.Reader
	out  []byte // inflight messages back to back
	in   []byte
	size int
}

func (e *echoClient) open(size, inflight int) (link, error) {
	c, err := net.Dial("tcp4", e.addr)
	if err != nil {
		return nil, err
	}
	inflight = max(inflight, 1)
	l := &echoLink{c: c, br: bufio.NewReaderSize(c, 64<<10), out: make([]byte, (4+size)*inflight), in: make([]byte, 4+size), size: size}
	for m := 0; m < inflight; m++ {
		f := l.out[m*(4+size) : (m+1)*(4+size)]
		binary.BigEndian.PutUint32(f, uint32(size))
		for i := 4; i < len(f); i++ {
			f[i] = byte(i)
		}
	}
	return l, nil
}

func (e *echoClient) close() error { return nil }

func (l *echoLink) send(k int) error {
	_, err := l.c.Write(l.out[:k*(4+l.size)])
	return err
}

func (l *echoLink) recv() error {
	if _, err := io.ReadFull(l.br, l.in[:4]); err != nil {
		return err
	}
	if n := binary.BigEndian.Uint32(l.in); int(n) != l.size {
		return fmt.Errorf("echo: length %d, want %d", n, l.size)
	}
	_, err := io.ReadFull(l.br, l.in[4:])
	return err
}

func (l *echoLink) roundTrip() error {
	if err := l.send(1); err != nil {
		return err
	}
	return l.recv()
}

// close ends the link; the figures are taken already, and a failed Close
// of a plain TCP connection changes none of them.
func (l *echoLink) close() { _ = l.c.Close() }

// msgr2Client is the msgr2 load generator: one simple messenger (a reader
// and a writer goroutine per connection, plain net.Conn), an anonymous
// session per link, and a fast dispatcher that hands each reply to its
// link's channel.
type msgr2Client struct {
	m     *simple.Messenger
	addr  gomsgr.EntityAddr
	links sync.Map // gomsgr.Connection -> *msgr2Link
	done  chan struct{}
}

type msgr2Link struct {
	cl      *msgr2Client
	c       *simple.Connection
	replies chan struct{}
	data    []byte
	closed  chan struct{}
	once    sync.Once
}

const msgTest = 0x7001 // an application message type

var errLinkClosed = errors.New("link closed")

func newMsgr2Client(addr string) (*msgr2Client, error) {
	ea, err := parseMsgr2Addr(addr)
	if err != nil {
		return nil, err
	}
	m, err := simple.NewMessenger(simple.Options{Name: gomsgr.EntityName{Type: gomsgr.EntityClient, Num: 7}, Logger: quietLog})
	if err != nil {
		return nil, err
	}
	cl := &msgr2Client{m: m, addr: ea, done: make(chan struct{})}
	if err := errors.Join(m.SetDefaultPolicy(gomsgr.LossyClient(0)), m.AddDispatcher(cl), m.Start()); err != nil {
		return nil, err
	}
	return cl, nil
}

func (cl *msgr2Client) Dispatch(m *gomsgr.Message) bool      { cl.FastDispatch(m); return true }
func (cl *msgr2Client) CanFastDispatch(*gomsgr.Message) bool { return true }
func (cl *msgr2Client) FastDispatch(m *gomsgr.Message) {
	v, ok := cl.links.Load(m.Conn)
	m.Release()
	if ok {
		v.(*msgr2Link).replies <- struct{}{}
	}
}

func (cl *msgr2Client) open(size, _ int) (link, error) {
	c, err := cl.m.ConnectAnon(gomsgr.EntityOSD, cl.addr)
	if err != nil {
		return nil, err
	}
	l := &msgr2Link{cl: cl, c: c, replies: make(chan struct{}, 256), data: make([]byte, size), closed: make(chan struct{})}
	cl.links.Store(gomsgr.Connection(c), l)
	return l, nil
}

func (cl *msgr2Client) close() error {
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	return cl.m.Shutdown(ctx)
}

func (l *msgr2Link) send(k int) error {
	for range k {
		m := gomsgr.GetMessage()
		m.Type, m.Data = msgTest, l.data
		m.SetReleaser(gomsgr.ReleaseToPool, nil)
		if err := l.c.SendMessage(m); err != nil {
			return err
		}
	}
	return nil
}

func (l *msgr2Link) recv() error {
	select {
	case <-l.replies:
		return nil
	case <-l.closed:
		return errLinkClosed
	case <-time.After(10 * time.Second):
		return errors.New("msgr2: no reply in 10s")
	}
}

func (l *msgr2Link) roundTrip() error {
	if err := l.send(1); err != nil {
		return err
	}
	return l.recv()
}

func (l *msgr2Link) close() {
	l.once.Do(func() {
		close(l.closed)
		l.c.MarkDown()
		l.cl.links.Delete(gomsgr.Connection(l.c))
	})
}

// openLinks opens n links and makes one round trip on each (so that the
// server has accepted and, for msgr2, finished the handshake), with up to 8
// at a time. Up to tolerate links may fail: they are closed and counted, and
// the rest returned.
func openLinks(cl client, n, size, inflight, tolerate int) ([]link, int, error) {
	links := make([]link, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	failed := 0
	var wg sync.WaitGroup
	for w := 0; w < min(n, 8); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				l, err := cl.open(size, inflight)
				if err == nil {
					if err = l.roundTrip(); err != nil {
						l.close()
					}
				}
				if err != nil {
					mu.Lock()
					failed++
					if failed > tolerate && first == nil {
						first = fmt.Errorf("link %d: %w (%d failed)", i, err, failed)
						next.Store(int64(n))
					}
					mu.Unlock()
					continue
				}
				links[i] = l
			}
		}()
	}
	wg.Wait()
	if first != nil {
		closeLinks(links)
		return nil, failed, first
	}
	ok := links[:0]
	for _, l := range links {
		if l != nil {
			ok = append(ok, l)
		}
	}
	return ok, failed, nil
}

func closeLinks(links []link) {
	for _, l := range links {
		if l != nil {
			l.close()
		}
	}
}

// pingPong runs every link in its own goroutine, one message at a time, for
// warm then d, and returns the round trips of the d part.
func pingPong(links []link, warm, d time.Duration) ([]time.Duration, time.Duration, error) {
	start := time.Now().Add(warm)
	end := start.Add(d)
	per := make([][]time.Duration, len(links))
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtts := make([]time.Duration, 0, 1<<14)
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := l.roundTrip(); err != nil {
					errs[i] = err
					break
				}
				if !t0.Before(start) {
					rtts = append(rtts, time.Since(t0))
				}
			}
			per[i] = rtts
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	var all []time.Duration
	for _, r := range per {
		all = append(all, r...)
	}
	slices.Sort(all)
	return all, d, nil
}

// pipelined keeps inflight messages outstanding on every link (a writer and
// a reader goroutine each) and returns how many echoes came back during d,
// after warm. The links are closed at the end.
func pipelined(links []link, inflight int, warm, d time.Duration) (int64, time.Duration, error) {
	var got atomic.Int64
	stop := make(chan struct{})
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for _, l := range links {
		tokens := make(chan struct{}, inflight)
		for range inflight {
			tokens <- struct{}{}
		}
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-tokens:
				}
				k := 1
			more:
				for k < inflight {
					select {
					case <-tokens:
						k++
					default:
						break more
					}
				}
				if err := l.send(k); err != nil {
					select {
					case <-stop:
					default:
						failed.CompareAndSwap(nil, &err)
					}
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for {
				if err := l.recv(); err != nil {
					select {
					case <-stop:
					default:
						failed.CompareAndSwap(nil, &err)
					}
					return
				}
				got.Add(1)
				tokens <- struct{}{}
			}
		}()
	}
	time.Sleep(warm)
	n0, t0 := got.Load(), time.Now()
	time.Sleep(d)
	n1, el := got.Load(), time.Since(t0)
	close(stop)
	closeLinks(links)
	wg.Wait()
	if p := failed.Load(); p != nil {
		return 0, 0, *p
	}
	return n1 - n0, el, nil
}
