package msgr2

// Hello is the first frame each side sends: its entity type and the
// address it sees for its peer.
type Hello struct {
	EntityType EntityType
	PeerAddr   EntityAddr
}

// Tag implements Payload.
func (*Hello) Tag() Tag { return TagHello }

// AppendPayload implements Payload.
func (h *Hello) AppendPayload(dst []byte) []byte {
	return AppendEntityAddr(append(dst, byte(h.EntityType)), h.PeerAddr)
}

// DecodePayload implements Payload.
func (h *Hello) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	h.EntityType = EntityType(d.U8())
	h.PeerAddr = d.EntityAddr()
	return d.result(TagHello)
}
