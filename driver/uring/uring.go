package uring

import "github.com/gomsgr/gomsgr/driver"

// Name is the name the driver is registered under.
const Name = "uring"

// The driver registers itself only in a program that imports this package:
// an application links io_uring by importing it, blank if it selects the
// driver by name through driver.Open or center.Config.Driver.
func init() {
	driver.Register(Name, open)
}

// open is the registered constructor. On one locked thread it asks for
// CoopTaskrun, and falls back to the default when the kernel (before 5.19)
// refuses it.
func open(cfg driver.Config) (driver.Driver, error) {
	if cfg.OneThread {
		if d, err := New(cfg, Options{CoopTaskrun: true}); err == nil {
			return d, nil
		}
	}
	return New(cfg, Options{})
}
