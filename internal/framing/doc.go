// Package framing is the frame pipeline both messengers drive: one Reader
// that turns the bytes a connection reads into frames for its session
// engine, and one Writer that turns the engine's control frames and the
// connection's queued messages into buffers for one vectored write. How
// the bytes reach the socket differs (a readiness handler on an event loop
// in conn, a blocking read and write per goroutine in simple); everything
// between the socket and the engine is here, written once, so that secure
// mode and io_uring completion mode are added to these two types only.
//
// Reader: a prefetch buffer, taken from a pool only while bytes are
// pending (or, for a goroutine that must block in read with a buffer, a
// small inline one while traffic is light); several frames parsed per
// read; a frame larger than the prefetch buffer read into a buffer of its
// own, which the message it becomes keeps (no copy of the payload); and
// once the session is open, a MESSAGE frame's receive-throttle budget taken
// at its preamble, before the rest is read, so that a full throttle stops
// reading and TCP pushes back on the sender.
//
// Writer: control frames copied from the engine first, then messages in
// the order the caller adds them (the out-queue's priority order), each
// encoded without copying its payload; partial writes advanced; a written
// message released (lossy) or kept in the SentList until the peer
// acknowledges it (lossless); on a fault the messages being written are
// handed back for requeueing.
//
// Neither type locks or starts a goroutine: each belongs to one
// connection's owner.
package framing
