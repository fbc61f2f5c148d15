package auth_test

import (
	"slices"
	"testing"

	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	"github.com/gomsgr/gomsgr/internal/session"
	"github.com/gomsgr/gomsgr/msgr2"
)

func TestConfigDefaults(t *testing.T) {
	var nilCfg *auth.Config
	if a, err := nilCfg.Engine(); a != nil || err != nil {
		t.Fatalf("nil Config: %v, %v; want nil, nil (auth none)", a, err)
	}
	if a, err := (&auth.Config{}).Engine(); a != nil || err != nil {
		t.Fatalf("zero Config: %v, %v; want nil, nil (auth none)", a, err)
	}
	k := cephx.Key{Type: 1}
	a, err := (&auth.Config{Name: "client.admin", Key: &k, Keyring: cephx.Keyring{"client.x": {Key: k}}}).Engine()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role session.Role
		peer msgr2.EntityType
		m    []msgr2.AuthMethod
		mode []msgr2.ConMode
	}{
		// Ceph's ms_mon_client_mode, ms_client_mode, ms_service_mode.
		{session.Client, msgr2.EntityMon, []msgr2.AuthMethod{auth.Cephx}, []msgr2.ConMode{auth.Secure, auth.CRC}},
		{session.Client, msgr2.EntityOSD, []msgr2.AuthMethod{auth.Cephx}, []msgr2.ConMode{auth.CRC, auth.Secure}},
		{session.Server, msgr2.EntityClient, []msgr2.AuthMethod{auth.Cephx}, []msgr2.ConMode{auth.CRC, auth.Secure}},
	} {
		if m := a.Methods(c.role, c.peer); !slices.Equal(m, c.m) {
			t.Errorf("%v with %v: methods %v, want %v", c.role, c.peer, m, c.m)
		}
		if m := a.Modes(c.role, c.peer); !slices.Equal(m, c.mode) {
			t.Errorf("%v with %v: modes %v, want %v", c.role, c.peer, m, c.mode)
		}
	}
	a, err = (&auth.Config{Keyring: cephx.Keyring{}, ServiceMethods: []msgr2.AuthMethod{auth.Cephx, auth.None},
		MonClientModes: []msgr2.ConMode{auth.Secure, auth.CRC}}).Engine()
	if err != nil {
		t.Fatal(err)
	}
	if m := a.Methods(session.Client, msgr2.EntityMon); !slices.Equal(m, []msgr2.AuthMethod{auth.None}) {
		t.Errorf("client methods without a key: %v, want none", m)
	}
	if m := a.Modes(session.Client, msgr2.EntityMon); !slices.Equal(m, []msgr2.ConMode{auth.Secure, auth.CRC}) {
		t.Errorf("mon client modes: %v", m)
	}
}

func TestConfigErrors(t *testing.T) {
	k := cephx.Key{Type: 1}
	for name, c := range map[string]auth.Config{
		"cephx offered without a key":    {Name: "client.admin", ClientMethods: []msgr2.AuthMethod{auth.Cephx}},
		"cephx offered without a name":   {Key: &k},
		"cephx accepted without keyring": {ServiceMethods: []msgr2.AuthMethod{auth.Cephx}},
		"bad entity name":                {Name: "admin", Key: &k},
		"unknown entity type":            {Name: "robot.x", Key: &k},
	} {
		if _, err := c.Engine(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
