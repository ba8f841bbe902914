// Package timing prints how long each phase of a run takes, to stderr, when
// the environment variable WHYTHEFAIL_TIMING is set to 1. It is off by
// default and costs one branch per mark then.
package timing

import (
	"fmt"
	"os"
	"sync"
	"time"
)

var (
	on    = os.Getenv("WHYTHEFAIL_TIMING") == "1"
	mu    sync.Mutex
	start = time.Now()
	last  = start
)

// Enabled reports whether WHYTHEFAIL_TIMING=1 turned the timer on.
func Enabled() bool { return on }

// Mark prints the time since the previous mark and since the process
// started, with what was done in between.
func Mark(what string) {
	if !on {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	now := time.Now()
	fmt.Fprintf(os.Stderr, "whythefail: timing: %7.1f ms %7.1f ms total  %s\n", ms(now.Sub(last)), ms(now.Sub(start)), what)
	last = now
}

// Since prints how long something that ran alongside other phases took,
// from t0, without moving the mark.
func Since(t0 time.Time, what string) {
	if !on {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	now := time.Now()
	fmt.Fprintf(os.Stderr, "whythefail: timing: %7.1f ms (in parallel) at %7.1f ms  %s\n", ms(now.Sub(t0)), ms(now.Sub(start)), what)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
