package uring

import (
	"testing"

	"github.com/gomsgr/gomsgr/driver/drivertest"
)

func TestConformance(t *testing.T) { drivertest.Run(t, open) }

func BenchmarkWake(b *testing.B) { drivertest.BenchWake(b, open) }

func BenchmarkPipePingPong(b *testing.B) { drivertest.BenchPipePingPong(b, open) }
