package cephx_test

import (
	"fmt"

	"github.com/gomsgr/gomsgr/cephx"
)

// A client's side of cephx against a monitor, with the monitor's replies
// built locally.
func Example() {
	ring, err := cephx.ParseKeyring([]byte("[client.admin]\n\tkey = AQBlamRlAAAAABAAMDEyMzQ1Njc4OWFiY2RlZg==\n\tcaps mon = \"allow *\"\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	entry, _ := ring.Lookup("client.admin")
	secret := entry.Key

	req := cephx.MonAuthRequest{EntityType: cephx.EntityClient, EntityID: "admin"}.Append(nil)
	fmt.Printf("AUTH_REQUEST payload: %d bytes\n", len(req))

	// AUTH_REPLY_MORE carries the server challenge.
	challenge, _ := cephx.DecodeServerChallenge(cephx.ServerChallenge{Challenge: 0x1122334455667788}.Append(nil))
	auth := cephx.Authenticate{
		ClientChallenge: 0x8877665544332211,
		Key:             cephx.ChallengeKey(secret, challenge.Challenge, 0x8877665544332211),
		OtherKeys:       cephx.EntityMon | cephx.EntityOSD | cephx.EntityMgr,
	}
	fmt.Printf("AUTH_REQUEST_MORE payload: %d bytes, key %#x\n", len(auth.Append(nil)), auth.Key)

	// AUTH_DONE: the monitor's reply, here built with the same package.
	session := cephx.Key{Type: cephx.KeyTypeAES, Secret: [16]byte([]byte("session-key-0001"))}
	done, _ := cephx.AppendAuthDone(nil, secret, []cephx.Ticket{{ServiceID: cephx.EntityAuth, SessionKey: session}}, nil, nil)
	result, err := cephx.ParseAuthDone(done, secret)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("session key %x, connection secret %d bytes, %d ticket(s)\n",
		result.SessionKey.Secret, len(result.ConnectionSecret), len(result.Tickets))
	// Output:
	// AUTH_REQUEST payload: 22 bytes
	// AUTH_REQUEST_MORE payload: 36 bytes, key 0x67c3734c0a2163
	// session key 73657373696f6e2d6b65792d30303031, connection secret 0 bytes, 1 ticket(s)
}
