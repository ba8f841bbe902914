package tracer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// TestExplainStart: advice is chosen by the errors' types, not their text.
// A missing file while attaching uprobes points at the kernel's
// configuration; a missing file elsewhere, even one named "uprobe", does
// not.
func TestExplainStart(t *testing.T) {
	noent := &fs.PathError{Op: "open", Path: "/sys/bus/event_source/devices/uprobe/type", Err: os.ErrNotExist}
	attach := &session.AttachError{Kind: target.AttachUprobe, Err: fmt.Errorf("attaching the return probe at /bin/true offset 0x10: %w", noent)}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{attach, "attaching the return probe at /bin/true offset 0x10: open /sys/bus/event_source/devices/uprobe/type: file does not exist (does this kernel have CONFIG_UPROBE_EVENTS?)"},
		{fmt.Errorf("loading BPF programs: %w", attach), "loading BPF programs: attaching the return probe at /bin/true offset 0x10: open /sys/bus/event_source/devices/uprobe/type: file does not exist (does this kernel have CONFIG_UPROBE_EVENTS?)"},
		{fmt.Errorf("reading uprobe things: %w", noent), "reading uprobe things: open /sys/bus/event_source/devices/uprobe/type: file does not exist"},
		{&session.AttachError{Kind: target.AttachUprobe, Err: os.ErrPermission}, "permission denied (tracing needs root, or CAP_BPF and CAP_PERFMON)"},
	} {
		got := explainStart(tc.err)
		if got.Error() != tc.want {
			t.Errorf("explainStart(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("explainStart(%v) does not wrap it", tc.err)
		}
	}
}
