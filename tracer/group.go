package tracer

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/report"
)

// GroupMode says whether traces are grouped by statement path.
type GroupMode int

// The grouping modes.
const (
	// GroupAuto groups on a terminal only, after a path has printed
	// AutoGroupAfter times; piped output keeps every trace.
	GroupAuto GroupMode = iota
	GroupAll            // --group: each path once, with its summary
	GroupNone           // --no-group: every trace
)

// AutoGroupAfter is how many traces of one path a terminal shows before
// the later ones are only counted.
const AutoGroupAfter = 3

// grouped wraps the text writer t for the grouping mode: nil when every
// trace prints as it comes. terminal says out stands for a terminal
// (output held in a buffer first).
func grouped(t *report.Text, mode GroupMode, out io.Writer, terminal bool, note func(string)) *report.Groups {
	switch mode {
	case GroupAll:
		return &report.Groups{T: t}
	case GroupNone:
		return nil
	}
	if !terminal && !isTerminal(out) {
		return nil
	}
	return &report.Groups{T: t, Keep: AutoGroupAfter, Note: func() {
		note(fmt.Sprintf("a statement path ran more than %d times: its later calls are counted and summed up at the end (stdout is a terminal; --no-group or a pipe prints every trace)", AutoGroupAfter))
	}}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
