package conn_test

import "github.com/gomsgr/gomsgr/center"

func centerCfg(driver string) center.Config { return center.Config{Driver: driver} }
