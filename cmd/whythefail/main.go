// Command whythefail shows why a function call failed: it traces every
// source statement of each invocation of a function, with its local
// variables, and prints the traces of the invocations whose return value
// satisfies a condition. See README.md.
package main

import (
	"os"
	"runtime/debug"

	"github.com/whythefail/whythefail/internal/cli"
	"github.com/whythefail/whythefail/tracer"
)

func main() {
	tracer.MaybeGate()
	// Loading DWARF allocates heavily and briefly; collecting less often
	// saves about a tenth of a listing's time for a bounded amount of
	// memory (a listing of glibc peaks under 100 MB). GOGC still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// But the largest listings (every function of a vmlinux, whose index
	// holds some 400 MB) would then peak near 2 GB: a soft limit makes
	// the GC collect more often only when the heap nears it (measured:
	// 873 MB peak RSS against 1.8 GB, for about the same CPU time).
	// GOMEMLIMIT still wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(640 << 20)
	}
	os.Exit(cli.Main(os.Stdout, os.Stderr, os.Args[1:]))
}
