// Package monc is a small Ceph monitor client on top of the gomsgr
// messenger (Ceph's MonClient, reduced to what a tool needs): it opens a
// lossy msgr2 session to one ceph-mon (cephx with Options.Key or Keyring,
// in secure or crc mode as the mon allows; auth none without), learns the
// cluster fsid from the monmap, and sends mon commands (MMonCommand) and map
// version queries (MMonGetVersion), matching replies to requests by
// transaction id so that many goroutines can share one client.
//
// When the session fails (the mon restarted, the connection reset), the
// client opens a new one at once if requests are waiting, and resends the
// ones that were not answered, as Ceph's MonClient does (a command can thus
// run twice if the mon applied it just before it failed); otherwise the next
// request opens it. Failed attempts are retried with a short backoff. A
// request fails only when its context ends, when the client is closed, or
// when no session could be established for Options.ReadyTimeout; the error
// (ErrNoSession) then says why: refused, closed during the handshake, ready
// timeout, or the protocol error the peer caused; an authentication
// failure (wrapping gomsgr.ErrAuth) fails the waiting requests at once,
// without retrying). Keepalives (KEEPALIVE2) go out every
// Options.KeepaliveInterval, and a session that reads nothing for
// Options.IdleTimeout is dropped and replaced.
//
//	c, err := monc.Dial(ctx, monc.Options{Addr: netip.MustParseAddrPort("127.0.0.1:3300"),
//		Name: "client.admin", Keyring: "/etc/ceph/ceph.client.admin.keyring"})
//	if err != nil { ... }
//	defer c.Close()
//	v, err := c.Version(ctx)                              // "ceph version 16.2.15 (...) pacific (stable)"
//	r, err := c.Command(ctx, `{"prefix": "status", "format": "json"}`)
//	fmt.Println(r.Rc, r.Status, string(r.Output))
package monc
