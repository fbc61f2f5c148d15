package msgr2

// SessionReconnect resumes an existing session on a new connection.
type SessionReconnect struct {
	Addrs        AddrVec
	ClientCookie uint64
	ServerCookie uint64
	GlobalSeq    uint64
	ConnectSeq   uint64
	MsgSeq       uint64
}

// Tag implements Payload.
func (*SessionReconnect) Tag() Tag { return TagSessionReconnect }

// AppendPayload implements Payload.
func (s *SessionReconnect) AppendPayload(dst []byte) []byte {
	dst = AppendAddrVec(dst, s.Addrs)
	dst = AppendU64(dst, s.ClientCookie)
	dst = AppendU64(dst, s.ServerCookie)
	dst = AppendU64(dst, s.GlobalSeq)
	dst = AppendU64(dst, s.ConnectSeq)
	return AppendU64(dst, s.MsgSeq)
}

// DecodePayload implements Payload.
func (s *SessionReconnect) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.Addrs = d.AddrVec()
	s.ClientCookie = d.U64()
	s.ServerCookie = d.U64()
	s.GlobalSeq = d.U64()
	s.ConnectSeq = d.U64()
	s.MsgSeq = d.U64()
	return d.result(TagSessionReconnect)
}

// SessionReset tells the client its session is gone; Full asks it to
// reset its global state too.
type SessionReset struct{ Full bool }

// Tag implements Payload.
func (*SessionReset) Tag() Tag { return TagSessionReset }

// AppendPayload implements Payload.
func (s *SessionReset) AppendPayload(dst []byte) []byte { return AppendBool(dst, s.Full) }

// DecodePayload implements Payload.
func (s *SessionReset) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.Full = d.Bool()
	return d.result(TagSessionReset)
}

// SessionRetry refuses a reconnect with a stale connect seq.
type SessionRetry struct{ ConnectSeq uint64 }

// Tag implements Payload.
func (*SessionRetry) Tag() Tag { return TagSessionRetry }

// AppendPayload implements Payload.
func (s *SessionRetry) AppendPayload(dst []byte) []byte { return AppendU64(dst, s.ConnectSeq) }

// DecodePayload implements Payload.
func (s *SessionRetry) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.ConnectSeq = d.U64()
	return d.result(TagSessionRetry)
}

// SessionRetryGlobal refuses a reconnect with a stale global seq.
type SessionRetryGlobal struct{ GlobalSeq uint64 }

// Tag implements Payload.
func (*SessionRetryGlobal) Tag() Tag { return TagSessionRetryGlobal }

// AppendPayload implements Payload.
func (s *SessionRetryGlobal) AppendPayload(dst []byte) []byte { return AppendU64(dst, s.GlobalSeq) }

// DecodePayload implements Payload.
func (s *SessionRetryGlobal) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.GlobalSeq = d.U64()
	return d.result(TagSessionRetryGlobal)
}

// SessionReconnectOK accepts a reconnect; MsgSeq is the last message the
// server received.
type SessionReconnectOK struct{ MsgSeq uint64 }

// Tag implements Payload.
func (*SessionReconnectOK) Tag() Tag { return TagSessionReconnectOK }

// AppendPayload implements Payload.
func (s *SessionReconnectOK) AppendPayload(dst []byte) []byte { return AppendU64(dst, s.MsgSeq) }

// DecodePayload implements Payload.
func (s *SessionReconnectOK) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	s.MsgSeq = d.U64()
	return d.result(TagSessionReconnectOK)
}

// Wait tells the client to wait: the server is connecting to it and that
// connection wins the race. It has an empty payload.
type Wait struct{}

// Tag implements Payload.
func (*Wait) Tag() Tag { return TagWait }

// AppendPayload implements Payload.
func (*Wait) AppendPayload(dst []byte) []byte { return dst }

// DecodePayload implements Payload.
func (*Wait) DecodePayload([]byte) error { return nil }

// Keepalive2 checks liveness; Stamp is the sender's clock.
type Keepalive2 struct{ Stamp UTime }

// Tag implements Payload.
func (*Keepalive2) Tag() Tag { return TagKeepalive2 }

// AppendPayload implements Payload.
func (k *Keepalive2) AppendPayload(dst []byte) []byte { return AppendUTime(dst, k.Stamp) }

// DecodePayload implements Payload.
func (k *Keepalive2) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	k.Stamp = d.UTime()
	return d.result(TagKeepalive2)
}

// Keepalive2Ack answers a Keepalive2 with its stamp.
type Keepalive2Ack struct{ Stamp UTime }

// Tag implements Payload.
func (*Keepalive2Ack) Tag() Tag { return TagKeepalive2Ack }

// AppendPayload implements Payload.
func (k *Keepalive2Ack) AppendPayload(dst []byte) []byte { return AppendUTime(dst, k.Stamp) }

// DecodePayload implements Payload.
func (k *Keepalive2Ack) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	k.Stamp = d.UTime()
	return d.result(TagKeepalive2Ack)
}

// Ack acknowledges every message up to Seq.
type Ack struct{ Seq uint64 }

// Tag implements Payload.
func (*Ack) Tag() Tag { return TagAck }

// AppendPayload implements Payload.
func (a *Ack) AppendPayload(dst []byte) []byte { return AppendU64(dst, a.Seq) }

// DecodePayload implements Payload.
func (a *Ack) DecodePayload(b []byte) error {
	d := Decoder{b: b}
	a.Seq = d.U64()
	return d.result(TagAck)
}
