// Package msgint reaches the parts of gomsgr.Message that only messengers
// use: the payload crcs computed on the sending goroutine, and the check
// that a message was not used after Release. The root package fills the
// functions in its init, so that Message exports only what applications
// use; the functions take the message as an any (a pointer in an
// interface: no allocation) because this package cannot import gomsgr.
package msgint

import "github.com/gomsgr/gomsgr/msgr2"

var (
	// SetPayloadCRCs records a *gomsgr.Message's payload crcs.
	SetPayloadCRCs func(m any, pc msgr2.PayloadCRCs)
	// PayloadCRCs returns the crcs SetPayloadCRCs recorded, or nil.
	PayloadCRCs func(m any) *msgr2.PayloadCRCs
	// CheckLive panics, in race builds, if the *gomsgr.Message was
	// released (see Message.Release); what names the use.
	CheckLive func(m any, what string)
)
