package gomsgr

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsgr/gomsgr/internal/msgint"
	"github.com/gomsgr/gomsgr/msgr2"
)

// Names and addresses are Ceph's encodings, shared with the wire package.
type (
	// EntityType is a Ceph entity type: mon, mds, osd, client, mgr.
	EntityType = msgr2.EntityType
	// EntityName is Ceph's entity_name_t, such as osd.3 or client.4123.
	EntityName = msgr2.EntityName
	// EntityAddr is Ceph's entity_addr_t: type, nonce and socket address.
	EntityAddr = msgr2.EntityAddr
	// AddrVec is Ceph's entity_addrvec_t.
	AddrVec = msgr2.AddrVec
)

// Entity types (CEPH_ENTITY_TYPE_*).
const (
	EntityMon    = msgr2.EntityMon
	EntityMDS    = msgr2.EntityMDS
	EntityOSD    = msgr2.EntityOSD
	EntityClient = msgr2.EntityClient
	EntityMgr    = msgr2.EntityMgr
)

// Message priorities (CEPH_MSG_PRIO_*). Messages of priority PrioHigh and
// above are dispatched in strict priority order.
const (
	PrioLow     = msgr2.PrioLow
	PrioDefault = msgr2.PrioDefault
	PrioHigh    = msgr2.PrioHigh
	PrioHighest = msgr2.PrioHighest
)

// Message is one message: a type, a priority, and the three payload
// segments of Ceph's wire format. A sender fills Type, Priority, Front,
// Middle and Data (and Tid and Version if it uses them); the messenger sets
// the rest on receive.
//
// Ownership: after SendMessage the messenger owns the message and its
// buffers until it is written (lossy) or acknowledged (lossless); the sender
// must not modify them. A received message belongs to the dispatcher, which
// may call Release when done so that its buffers and throttle budget are
// recycled early (otherwise the garbage collector frees them).
type Message struct {
	// Type is the message type (CEPH_MSG_*, or an application's own).
	Type msgr2.MsgType
	// Priority orders the sender's out-queue and the receiver's dispatch
	// queue; zero means PrioDefault.
	Priority uint16
	// Version and CompatVersion are the payload encoding versions.
	Version, CompatVersion uint16
	// Tid is the sender's transaction id, for matching replies.
	Tid uint64
	// Front, Middle and Data are the payload segments. Data is sent
	// 4096-byte aligned and is never copied on the send path.
	Front, Middle, Data []byte

	// Seq is the sequence number of the message on its session (set on
	// receive).
	Seq uint64
	// Src is the sender's entity name (set on receive).
	Src EntityName
	// Conn is the connection the message arrived on (set on receive).
	Conn Connection
	// RecvStamp is when the message's first byte was read (set on receive).
	RecvStamp time.Time

	// DispatchBytes is the size charged to receive throttles; set by the
	// messenger.
	DispatchBytes int

	released   atomic.Bool
	onRelease  func(*Message, any)
	releaseArg any
	crcs       msgr2.PayloadCRCs
	hasCRCs    bool
}

func init() {
	msgint.SetPayloadCRCs = func(m any, pc msgr2.PayloadCRCs) {
		mm := m.(*Message)
		mm.crcs, mm.hasCRCs = pc, true
	}
	msgint.PayloadCRCs = func(m any) *msgr2.PayloadCRCs {
		mm := m.(*Message)
		if !mm.hasCRCs {
			return nil
		}
		return &mm.crcs
	}
	msgint.CheckLive = func(m any, what string) { m.(*Message).checkLive(what) }
}

// checkLive panics, in race builds, if m was released: a message is the
// messenger's or the dispatcher's until Release, and nobody's after (the
// way x/net/http2 checks that a frame is still valid). Without the race
// detector it costs nothing and checks nothing.
func (m *Message) checkLive(what string) {
	if raceEnabled && m.released.Load() {
		panic("gomsgr: " + what + " of a Message after Release (a released message may already be another one: take a new Message)")
	}
}

// NewMessage returns a message of type t with default priority.
func NewMessage(t msgr2.MsgType) *Message {
	return &Message{Type: t, Priority: PrioDefault}
}

// Len returns the payload size: front + middle + data.
func (m *Message) Len() int {
	m.checkLive("Len")
	return len(m.Front) + len(m.Middle) + len(m.Data)
}

// SetReleaser installs the function Release calls once, with arg;
// messengers use it to return buffers and throttle budget, and senders may
// use it to recycle a message once it is written (a static function and a
// pointer arg keep that free of allocations).
func (m *Message) SetReleaser(f func(m *Message, arg any), arg any) {
	m.released.Store(false)
	m.onRelease, m.releaseArg = f, arg
}

// Release tells the messenger the receiver is done with the message and its
// buffers. It is safe to call more than once; only the first call acts.
//
// After Release the message may be recycled for another one: reading its
// fields reads someone else's message. In race builds a released message
// is poisoned instead (its payload cleared, never recycled) and using it
// again (SendMessage, Header, Decode, Len) panics with a message naming
// the misuse.
func (m *Message) Release() {
	if m.released.Swap(true) {
		return
	}
	if f := m.onRelease; f != nil {
		arg := m.releaseArg
		m.onRelease, m.releaseArg = nil, nil
		f(m, arg) // a releaser that recycles m poisons it (PutMessage)
		return
	}
	if raceEnabled {
		m.Front, m.Middle, m.Data, m.Conn = nil, nil, nil, nil
	}
}

// Header returns the ceph_msg_header2 fields the sender controls.
func (m *Message) Header() msgr2.MsgHeader2 {
	m.checkLive("Header")
	prio := m.Priority
	if prio == 0 {
		prio = PrioDefault
	}
	return msgr2.MsgHeader2{
		Seq:           m.Seq,
		Tid:           m.Tid,
		Type:          m.Type,
		Priority:      prio,
		Version:       m.Version,
		CompatVersion: m.CompatVersion,
	}
}

// Encode builds a message from a typed payload of the msgr2 registry.
func Encode(p msgr2.Message) *Message {
	head, compat := p.Versions()
	return &Message{
		Type:          p.Type(),
		Priority:      PrioDefault,
		Version:       head,
		CompatVersion: compat,
		Front:         p.AppendFront(nil),
	}
}

// Decode turns a received message into its typed payload using reg
// (msgr2.DefaultRegistry when nil).
func (m *Message) Decode(reg *msgr2.Registry) (msgr2.Message, error) {
	m.checkLive("Decode")
	if reg == nil {
		reg = msgr2.DefaultRegistry
	}
	h := m.Header()
	return reg.Decode(&h, m.Front, m.Middle, m.Data)
}

var messagePool = sync.Pool{New: func() any { return new(Message) }}

// GetMessage returns a zeroed Message from a pool; PutMessage returns it.
// Messengers use the pool on their receive path so that steady-state
// delivery does not allocate; applications may use it for sends.
func GetMessage() *Message { return messagePool.Get().(*Message) }

// PutMessage resets m and returns it to the pool. m must not be used after
// (in race builds it is poisoned instead of pooled, see Release).
func PutMessage(m *Message) {
	if raceEnabled {
		m.Front, m.Middle, m.Data, m.Conn = nil, nil, nil, nil
		m.released.Store(true)
		return
	}
	m.Type, m.Priority, m.Version, m.CompatVersion, m.Tid = 0, 0, 0, 0, 0
	m.Front, m.Middle, m.Data = nil, nil, nil
	m.Seq, m.Src, m.Conn, m.RecvStamp, m.DispatchBytes = 0, EntityName{}, nil, time.Time{}, 0
	m.released.Store(false)
	m.onRelease, m.releaseArg = nil, nil
	m.hasCRCs = false
	messagePool.Put(m)
}

// ReleaseToPool is a releaser (see SetReleaser) that returns a message
// from GetMessage to the pool once the messenger is done with it.
func ReleaseToPool(m *Message, _ any) { PutMessage(m) }
