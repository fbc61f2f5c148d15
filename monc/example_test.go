package monc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gomsgr/gomsgr/monc"
)

// monAddr is the test mon's v2 address; in real use, the address your
// monmap advertises (ceph mon dump), such as 127.0.0.1:3300.
func monAddr() netip.AddrPort { return netip.MustParseAddrPort(shared.V2Addr()) }

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := monc.Dial(ctx, monc.Options{Addr: monAddr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()

	v, err := c.Version(ctx)
	fmt.Println(strings.HasPrefix(v, "ceph version 16."), err)

	r, err := c.Command(ctx, `{"prefix": "mon stat", "format": "json"}`)
	var stat struct {
		Quorum []struct {
			Name string `json:"name"`
		} `json:"quorum"`
	}
	if err := json.Unmarshal(r.Output, &stat); err != nil {
		fmt.Println("mon stat:", err)
		return
	}
	fmt.Println(r.Rc, err, stat.Quorum[0].Name)

	r, _ = c.Command(ctx, `{"prefix": "no such command"}`)
	fmt.Println(r.Err())

	epoch, _, err := c.GetVersion(ctx, "monmap")
	fmt.Println(epoch, err)
	// Output:
	// true <nil>
	// 0 <nil> a
	// monc: mon command failed: invalid argument (rc -22): command not known
	// 1 <nil>
}
