package gomsgr_test

import (
	"strings"
	"testing"

	"github.com/gomsgr/gomsgr"
	"github.com/gomsgr/gomsgr/msgr2"
)

func TestReleaseOnce(t *testing.T) {
	m := gomsgr.NewMessage(msgr2.MsgPing)
	calls := 0
	m.SetReleaser(func(*gomsgr.Message, any) { calls++ }, nil)
	m.Release()
	m.Release()
	if calls != 1 {
		t.Fatalf("releaser ran %d times, want 1", calls)
	}
}

func TestEncodeDecode(t *testing.T) {
	m := gomsgr.Encode(&msgr2.MonGetVersion{Handle: 7, What: "osdmap"})
	if m.Type != msgr2.MsgMonGetVersion || m.Priority != gomsgr.PrioDefault {
		t.Fatalf("type %v prio %d", m.Type, m.Priority)
	}
	p, err := m.Decode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.(*msgr2.MonGetVersion); !ok || v.Handle != 7 || v.What != "osdmap" {
		t.Fatalf("decoded %#v", p)
	}
}

func TestPolicyPresets(t *testing.T) {
	cases := map[string]struct {
		p                                  gomsgr.Policy
		lossy, server, standby, reset, reg bool
	}{
		// Ceph's Policy.h: (lossy, server, standby, resetcheck, register_lossy_clients)
		"stateful_server":             {gomsgr.StatefulServer(0), false, true, true, true, true},
		"stateless_registered_server": {gomsgr.StatelessRegisteredServer(0), true, true, false, false, true},
		"stateless_server":            {gomsgr.StatelessServer(0), true, true, false, false, false},
		"lossless_peer":               {gomsgr.LosslessPeer(0), false, false, true, false, true},
		"lossless_peer_reuse":         {gomsgr.LosslessPeerReuse(0), false, false, true, true, true},
		"lossy_client":                {gomsgr.LossyClient(0), true, false, false, false, true},
		"lossless_client":             {gomsgr.LosslessClient(0), false, false, false, true, true},
	}
	for name, c := range cases {
		p := c.p
		if got := gomsgr.LossyClient(1 << 59).FeaturesRequired; got != 1<<59 {
			t.Fatalf("preset argument is features_required: got %#x", got)
		}
		if p.Lossy != c.lossy || p.Server != c.server || p.Standby != c.standby || p.ResetCheck != c.reset || p.RegisterLossyClients != c.reg {
			t.Errorf("%s: %+v", name, p)
		}
	}
}

// In race builds a released message is poisoned: using it again panics
// with a message that names the misuse, instead of silently reading or
// sending another message's payload.
func TestReleasedMessagePanicsUnderRace(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    func() *gomsgr.Message
	}{
		{"new", func() *gomsgr.Message { return gomsgr.NewMessage(msgr2.MsgPing) }},
		{"pooled", func() *gomsgr.Message {
			m := gomsgr.GetMessage()
			m.SetReleaser(gomsgr.ReleaseToPool, nil)
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m()
			m.Front = []byte("payload")
			m.Release()
			defer func() {
				r := recover()
				if !raceEnabled {
					if r != nil {
						t.Fatalf("without -race, Header after Release panicked: %v", r)
					}
					return
				}
				s, _ := r.(string)
				if !strings.Contains(s, "Header of a Message after Release") {
					t.Fatalf("Header after Release under -race: recovered %v, want the poison panic", r)
				}
				if m.Front != nil {
					t.Fatalf("released message keeps its payload %q under -race", m.Front)
				}
			}()
			_ = m.Header()
		})
	}
}
