// Command whythefail shows why a function call failed: it traces every
// source statement of each invocation of a function, with its local
// variables, and prints the traces of the invocations whose return value
// satisfies a condition. See README.md.
package main

import (
	"os"

	"github.com/whythefail/whythefail/internal/cli"
	"github.com/whythefail/whythefail/tracer"
)

func main() {
	tracer.MaybeGate()
	os.Exit(cli.Main(os.Stdout, os.Stderr, os.Args[1:]))
}
