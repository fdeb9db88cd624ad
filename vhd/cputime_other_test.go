//go:build !unix

package vhd_test

import "time"

// cpuTime is not measured here: the fuzz guard's CPU limit is off.
func cpuTime() time.Duration { return 0 }
