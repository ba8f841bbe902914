package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/whythefail/whythefail/internal/timing"
	"github.com/whythefail/whythefail/tracer"
)

// trace implements: whythefail TARGET FUNCTION CONDITION [VARIABLE].
// commandStdout is where a -c command's standard output goes: nil for
// whythefail's own standard output (the user sees both, as with stap -c).
// The package's tests send it to /dev/null so that the traced fixtures'
// output does not fill the test log.
var commandStdout io.Writer

func trace(stdout, stderr io.Writer, a *Args) (err error) {
	switch n := len(a.Positional); {
	case n == 0:
		return usagef("nothing to do: give TARGET FUNCTION CONDITION, or -L SPEC")
	case n < 3:
		return usagef("missing %s: give TARGET FUNCTION CONDITION [VARIABLE]", []string{"", "FUNCTION and CONDITION", "CONDITION"}[n])
	case n > 4:
		return usagef("too many arguments: %q", a.Positional[4:])
	}
	client, err := debuginfodClient()
	if err != nil {
		return err
	}
	cfg := tracer.Config{Target: a.Positional[0], Function: a.Positional[1], Condition: a.Positional[2], DebugDirs: a.DebugDirs,
		Debuginfod: client, Source: a.Source || a.Annotate, SourcePaths: a.SrcPaths, MaxRecords: a.MaxRecords, RingBufSize: a.RingBuf,
		NoVerdict: a.NoVerdict, Release: a.Release, Follow: a.Follow, FollowDepth: a.FollowDepth, FollowEager: a.FollowEager}
	if len(a.Positional) == 4 {
		cfg.Variable = a.Positional[3]
	}
	var placeNote string
	if a.Placement != "naive" {
		cfg.Placement, placeNote = tracer.KernelPlacement()
	}
	timing.Mark("start")
	job, err := tracer.Prepare(cfg)
	if err != nil {
		return err
	}
	timing.Mark("resolving (tracer.Prepare)")
	notes := tracer.NotesSummary
	switch {
	case a.Quiet:
		notes = tracer.NotesQuiet
	case a.Verbose:
		notes = tracer.NotesVerbose
	}
	if a.Verbose {
		if placeNote != "" {
			fmt.Fprintf(stderr, "whythefail: %s\n", placeNote)
		}
		for _, n := range job.Placement {
			fmt.Fprintf(stderr, "whythefail: %s\n", n)
		}
	}
	if notes != tracer.NotesQuiet {
		for _, n := range job.Notes {
			fmt.Fprintf(stderr, "whythefail: note: %s\n", n)
		}
	}
	out := stdout
	if a.Output != "" {
		// Opened once everything is resolved, so that a mistake in the
		// command line does not leave an empty file behind.
		f, err := os.Create(a.Output)
		if err != nil {
			return fmt.Errorf("-o: %w", err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("-o: %w", cerr)
			}
		}()
		out = f
	}
	group := tracer.GroupAuto
	switch {
	case a.Group && a.NoGroup:
		return usagef("--group and --no-group contradict each other")
	case a.Group:
		group = tracer.GroupAll
	case a.NoGroup:
		group = tracer.GroupNone
	}
	status, err := job.RunFollow(context.Background(), out, tracer.RunOptions{Command: a.Command, PID: a.PID, JSON: a.JSON, Source: a.Source, Annotate: a.Annotate, Floor: a.Floor, Backtrace: a.Backtrace,
		MaxRecords: a.MaxRecords, RingBufSize: a.RingBuf, MaxTraces: a.MaxTraces, Diag: stderr, Notes: notes, Group: group, Stdout: commandStdout})
	timing.Mark("finished")
	if err != nil {
		return err
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

// exitStatus carries the -c command's exit status out of run.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }
