package epoll

import "github.com/gomsgr/gomsgr/driver"

// Name is the name the driver is registered under.
const Name = "epoll"

// The driver registers itself in any program that imports this package;
// package center imports it on Linux, as its default driver.
func init() {
	driver.Register(Name, open)
}

func open(cfg driver.Config) (driver.Driver, error) { return New(cfg) }
