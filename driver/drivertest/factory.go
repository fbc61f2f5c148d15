package drivertest

import "github.com/gomsgr/gomsgr/driver"

// Factory constructs the driver under test from a Config. It has the type of
// driver.NewFunc, so a driver's registered constructor can be passed as is.
type Factory = driver.NewFunc
