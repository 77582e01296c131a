// Package goid reports the id of the calling goroutine.
//
// The runtime offers no API for it on purpose: goroutine-local state is a
// trap. This package exists for one narrow job, telling a routine's Stop
// whether it is being called from one of the routine's own goroutines (its
// handler or a callback), where waiting for those goroutines to exit would
// wait for itself forever. It is not used on any per-invocation path.
package goid

import (
	"runtime"
	"strconv"
)

// Get returns the calling goroutine's id, as printed in stack traces
// ("goroutine 42 [running]:"), or 0 when it cannot be read.
func Get() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) <= len(prefix) || string(b[:len(prefix)]) != prefix {
		return 0
	}
	b = b[len(prefix):]
	end := 0
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	id, err := strconv.ParseUint(string(b[:end]), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
