package msgr2

// Payload is the typed payload of a control frame (every tag but MESSAGE).
// Pointers to the payload types of this package implement it; decoded
// byte-slice fields alias the input.
type Payload interface {
	// Tag is the frame tag that carries this payload.
	Tag() Tag
	// AppendPayload appends the encoded payload (segment 0) to dst.
	AppendPayload(dst []byte) []byte
	// DecodePayload decodes segment 0 into the receiver. Bytes after the
	// known fields are ignored, as Ceph ignores them.
	DecodePayload(b []byte) error
}

// NewPayload returns a new zero payload for a control tag, or nil for
// TagMessage and unknown tags.
func NewPayload(tag Tag) Payload {
	switch tag {
	case TagHello:
		return new(Hello)
	case TagAuthRequest:
		return new(AuthRequest)
	case TagAuthBadMethod:
		return new(AuthBadMethod)
	case TagAuthReplyMore:
		return new(AuthReplyMore)
	case TagAuthRequestMore:
		return new(AuthRequestMore)
	case TagAuthDone:
		return new(AuthDone)
	case TagAuthSignature:
		return new(AuthSignature)
	case TagClientIdent:
		return new(ClientIdent)
	case TagServerIdent:
		return new(ServerIdent)
	case TagIdentMissingFeatures:
		return new(IdentMissingFeatures)
	case TagSessionReconnect:
		return new(SessionReconnect)
	case TagSessionReset:
		return new(SessionReset)
	case TagSessionRetry:
		return new(SessionRetry)
	case TagSessionRetryGlobal:
		return new(SessionRetryGlobal)
	case TagSessionReconnectOK:
		return new(SessionReconnectOK)
	case TagWait:
		return new(Wait)
	case TagKeepalive2:
		return new(Keepalive2)
	case TagKeepalive2Ack:
		return new(Keepalive2Ack)
	case TagAck:
		return new(Ack)
	}
	return nil
}

// DecodePayload decodes the payload of a control frame of the given tag.
// TagMessage and unknown tags give ErrUnknownTag; use DecodeMessage for
// MESSAGE frames.
func DecodePayload(tag Tag, b []byte) (Payload, error) {
	p := NewPayload(tag)
	if p == nil {
		return nil, frameErr(ErrUnknownTag, tag, "no control payload")
	}
	if err := p.DecodePayload(b); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeFramePayload decodes the payload of control frame f into p, after
// checking that the frame's tag is p's.
func DecodeFramePayload(f *Frame, p Payload) error {
	if f.Tag() != p.Tag() {
		return frameErr(ErrUnexpectedTag, f.Tag(), "want "+p.Tag().String())
	}
	return p.DecodePayload(f.Payload())
}

// result returns the decoder's error tagged with tag. Payload decoders use
// a Decoder value on their stack and no closures, so that decoding a
// steady-state frame (ACK, KEEPALIVE2) does not allocate.
func (d *Decoder) result(tag Tag) error {
	if d.err != nil {
		return withTag(d.err, tag)
	}
	return nil
}
