package msgr2

import (
	"errors"
	"sync"
)

// Registry maps message types to constructors, so that a MESSAGE frame can
// be turned into a typed Message. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[MsgType]regEntry
}

type regEntry struct {
	name string
	new  func() Message
}

// ErrDuplicateType is returned by Register for a type already registered.
var ErrDuplicateType = errors.New("msgr2: message type already registered")

// NewRegistry returns a registry holding this package's message types.
func NewRegistry() *Registry {
	r := &Registry{m: make(map[MsgType]regEntry)}
	for _, e := range []struct {
		t   MsgType
		new func() Message
	}{
		{MsgPing, func() Message { return new(Ping) }},
		{MsgMonGetMap, func() Message { return new(MonGetMap) }},
		{MsgMonGetVersion, func() Message { return new(MonGetVersion) }},
		{MsgMonGetVersionReply, func() Message { return new(MonGetVersionReply) }},
		{MsgMonCommand, func() Message { return new(MonCommand) }},
		{MsgMonCommandAck, func() Message { return new(MonCommandAck) }},
		{MsgAuth, func() Message { return new(MonAuth) }},
		{MsgAuthReply, func() Message { return new(MonAuthReply) }},
		{MsgCommand, func() Message { return new(Command) }},
		{MsgCommandReply, func() Message { return new(CommandReply) }},
	} {
		r.m[e.t] = regEntry{name: msgTypeNames[e.t], new: e.new}
	}
	return r
}

// DefaultRegistry holds this package's message types; applications add
// theirs at init time.
var DefaultRegistry = NewRegistry()

// Register adds a message type. It fails with ErrDuplicateType if t is
// already registered.
func (r *Registry) Register(t MsgType, name string, newMsg func() Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[t]; ok {
		return frameErr(ErrDuplicateType, 0, "type "+itoa(int(t)))
	}
	r.m[t] = regEntry{name: name, new: newMsg}
	return nil
}

// Name returns the registered name of t, or "".
func (r *Registry) Name(t MsgType) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[t].name
}

// New returns a new zero message of type t.
func (r *Registry) New(t MsgType) (Message, error) {
	r.mu.RLock()
	e, ok := r.m[t]
	r.mu.RUnlock()
	if !ok {
		return nil, frameErr(ErrUnknownMessage, TagMessage, "type "+itoa(int(t)))
	}
	return e.new(), nil
}

// Decode builds the typed message a MESSAGE frame carries. A compat
// version newer than the type's header version means the sender's encoding
// cannot be read and gives ErrDecode. Payload byte slices may alias the
// segments.
func (r *Registry) Decode(h *MsgHeader2, front, middle, data []byte) (Message, error) {
	m, err := r.New(h.Type)
	if err != nil {
		return nil, err
	}
	if head, _ := m.Versions(); h.CompatVersion > head {
		return nil, frameErr(ErrDecode, TagMessage, h.Type.String()+" compat version "+itoa(int(h.CompatVersion))+" > supported "+itoa(int(head)))
	}
	if err := m.DecodeFront(h, front); err != nil {
		return nil, err
	}
	if dc, ok := m.(DataCarrier); ok {
		dc.SetDataSegment(data)
	}
	return m, nil
}

// NewMessageHeader returns a header for m with its type, versions, default
// priority and flags filled in as Ceph's ProtocolV2 sends them (the footer
// flags COMPLETE|NOCRC, since frame crcs replace the message crcs); the
// caller sets Seq, Tid and AckSeq. A zero compat version becomes the head
// version, as in Ceph's Message::encode.
func NewMessageHeader(m Message) MsgHeader2 {
	head, compat := m.Versions()
	if compat == 0 {
		compat = head
	}
	return MsgHeader2{Type: m.Type(), Priority: PrioDefault, Version: head, CompatVersion: compat, Flags: FooterComplete | FooterNoCRC}
}
