package cli

import (
	"errors"
	"runtime/debug"

	"fmt"
	"github.com/whythefail/whythefail/debuginfod"
	"io"
	"strings"

	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/tracer"
)

const usage = `usage: whythefail TARGET FUNCTION CONDITION [VARIABLE] [-c CMD | -x PID]
       whythefail -L SPEC    list probe points with their variables (like stap -L)
       whythefail -l SPEC    list probe points
       whythefail -v -L SPEC each probe with its address and file offset
TARGET: process("PATH") or PATH, kernel, or module("NAME"); without -c or -x every
        process (for kernel targets, every task) is traced until Ctrl-C
flags: -o FILE          write traces and statistics to FILE (the -c command keeps stdout)
       -v               list every variable that prints ? (by default one note sums them up)
       -q               no notes (errors are still printed)
       --max-traces N   stop after N traces, as Ctrl-C does (a -c command goes on untraced)
       -r RELEASE       kernel and module specs use that kernel release's debug info
                        (listing; tracing only the running kernel)
       --debug-dir DIR  also look for separate debug files under DIR
       --json           print traces as JSON (numbers as numbers, ? as null)
       --annotate       after each trace, the function's source with executed lines marked
       --source-path OLD=NEW  look for sources under NEW where debug info says OLD
       --source         show the source text of each traced line
       --no-verdict     no "why:" line after each trace (and no branch probes)
       --backtrace      after each trace, its chain of callers (function, file, line)
       --follow[=DEPTH] after each trace, the calls FUNCTION made (and theirs, DEPTH levels deep,
                        3 by default), what each returned, and the chain down to the origin
                        of the return value; one level per run: a -c command runs again
                        (a -x process waits for the next failure) to follow the calls of
                        the callee a run blamed, and trace its statements
       --follow-eager   with --follow, every level probed from the first run: the whole
                        chain from one failure, but a followed callee's call sites then
                        trap for all its callers
       --group          each statement path once, then how many more calls took it and what differed
       --no-group       every trace, even on a terminal (which groups a path after 3 traces)
       --version        print whythefail's version
       --floor          attach empty programs at the same probes instead (a benchmark's floor)
       --placement auto|naive
                        auto (default): a statement's probe may move to a later instruction of
                        the same straight run that the kernel emulates, where it provably reads
                        the same values (-v says where each went), and the why: line probes
                        only the branches that can be the last before a return; naive: its
                        first instruction, and every branch probed
       --max-statements N  statements kept per invocation (default 512)
       --ringbuf-size SIZE ring buffer for committed traces (default 4M)
example: whythefail 'process("./prog")' do_open '$return == -22' -c ./prog
         whythefail kernel perf_copy_attr '$return == -22' -c ./prog
         whythefail 'module("9pnet")' p9_client_create '$return == -22' -c 'mount -t 9p ...'
         whythefail -r 6.1.0-57-amd64 -L 'kernel.statement("*perf_event_open@*:*")'
`

// Main runs whythefail with argv (without the program name) and returns the
// exit status. Results go to stdout, diagnostics to stderr.
func Main(stdout, stderr io.Writer, argv []string) int {
	if err := run(stdout, stderr, argv); err != nil {
		var es exitStatus
		if errors.As(err, &es) {
			return int(es)
		}
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "whythefail: %v (see whythefail --help)\n", err)
		} else {
			fmt.Fprintf(stderr, "whythefail: %s\n", oneLine(err))
		}
		return 1
	}
	return 0
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func run(stdout, stderr io.Writer, argv []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v (please report this with the command line)", r)
		}
	}()
	a, err := parseArgs(argv)
	if err != nil {
		return err
	}
	switch {
	case a.Help:
		fmt.Fprint(stdout, usage)
		return nil
	case a.Version:
		fmt.Fprintln(stdout, version())
		return nil
	case a.List != "":
		return list(stdout, stderr, a, a.List, true)
	case a.ListNames != "":
		return list(stdout, stderr, a, a.ListNames, false)
	}
	if a.Release != "" {
		if run, err := target.RunningRelease(); err == nil && run != a.Release {
			return fmt.Errorf("-r %s: the running kernel is %s: another release's probe points can be listed (-L/-l) but not traced", a.Release, run)
		}
	}
	return trace(stdout, stderr, a)
}

// list implements -L and -l.
func list(stdout, stderr io.Writer, a *Args, text string, withVars bool) error {
	if len(a.Positional) > 0 {
		return usagef("unexpected argument %q after -L/-l SPEC", a.Positional[0])
	}
	s, err := spec.Parse(text)
	if err != nil {
		return err
	}
	lc := tracer.ListConfig{Spec: s, DebugDirs: a.DebugDirs, Debuginfod: debuginfodClient, Vars: withVars, Verbose: a.Verbose, Release: a.Release,
		Progress: func(msg string) { fmt.Fprintf(stderr, "whythefail: %s\n", msg) }}
	if a.Verbose && withVars && a.Placement != "naive" {
		pl, _ := tracer.KernelPlacement()
		lc.Placement = &pl
	}
	rows, err := tracer.List(lc)
	if err != nil {
		return err
	}
	for _, line := range rows {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// debuginfodClient is the client DEBUGINFOD_URLS configures, or nil.
func debuginfodClient() (*debuginfod.Client, error) {
	c, err := debuginfod.NewFromEnv()
	if errors.Is(err, debuginfod.ErrNotConfigured) {
		return nil, nil
	}
	return c, err
}

// version names the module version whythefail was built from.
func version() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return "whythefail " + v
}
