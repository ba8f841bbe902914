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
	os.Exit(cli.Main(os.Stdout, os.Stderr, os.Args[1:]))
}
