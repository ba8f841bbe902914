package backtrace

import (
	"fmt"
	"strings"
)

// String prints the backtrace as --backtrace shows it after a trace: a
// "backtrace:" line, then one line per frame, innermost first, naming the
// binary whenever it changes, then the reason the unwinding stopped early,
// if it did.
func (bt *Backtrace) String() string {
	var b strings.Builder
	b.WriteString("backtrace:\n")
	prev := ""
	for i, f := range bt.Frames {
		name := f.Function
		if name == "" {
			name = "??"
		}
		fmt.Fprintf(&b, "  #%d %#x %s", i, f.PC, name)
		if f.Inlined {
			b.WriteString(" (inlined)")
		}
		if f.File != "" {
			fmt.Fprintf(&b, " at %s:%d", f.File, f.Line)
		}
		if f.Binary != prev && f.Binary != "" {
			fmt.Fprintf(&b, " in %s", f.Binary)
			prev = f.Binary
		}
		b.WriteString("\n")
	}
	if bt.Stop != "" {
		fmt.Fprintf(&b, "  (unwinding stopped: %s)\n", bt.Stop)
	}
	return b.String()
}
