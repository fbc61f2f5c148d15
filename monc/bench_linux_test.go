package monc_test

import (
	"context"
	"testing"

	"github.com/gomsgr/gomsgr/monc"
)

// BenchmarkCommand measures mon command round trips through one session
// against the test mon (the mon's own work dominates; see gomsgr-ceph
// compare for the comparison with librados):
//
//	go test ./monc -run '^$' -bench Command -benchtime 3s
func BenchmarkCommand(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			o := v.opts
			o.Addr = monAddr()
			c, err := monc.Dial(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer closeClient(b, c)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := c.Command(ctx, `{"prefix": "version"}`)
					if err == nil {
						err = r.Err()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetVersion is the same with MMonGetVersion, which the mon
// answers without parsing a command.
func BenchmarkGetVersion(b *testing.B) {
	o := monc.Options{Addr: monAddr()}
	c, err := monc.Dial(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer closeClient(b, c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.GetVersion(ctx, "osdmap"); err != nil {
			b.Fatal(err)
		}
	}
}
