package cli

import (
	"fmt"
	"regexp"

	"strconv"
	"strings"

	"github.com/whythefail/whythefail/source"
	"github.com/whythefail/whythefail/tracer"
)

// Args is a parsed command line.
type Args struct {
	List      string // -L SPEC
	ListNames string // -l SPEC
	DebugDirs []string
	Release   string // -r RELEASE: the kernel release whose debug info kernel and module specs use
	JSON      bool
	Source    bool // --source: the source text of each traced line
	Floor     bool // --floor: empty programs at the same probes (benchmarks)
	// Placement is --placement: "auto" (default) moves statement probes to
	// instructions the kernel emulates where that reads the same values;
	// "naive" keeps each at its statement's first instruction.
	Placement string
	Annotate  bool // --annotate: each trace's function source, executed lines marked
	Backtrace bool // --backtrace: the chain of callers after each trace
	Follow    bool // --follow[=DEPTH]: the calls made and the origin of the return value
	// FollowDepth is --follow's DEPTH (0 when --follow has no value:
	// tracer.DefaultFollowDepth).
	FollowDepth int
	// FollowEager is --follow-eager: every level probed from the first
	// run (tracer.Config.FollowEager).
	FollowEager bool
	NoVerdict   bool     // --no-verdict: no "why:" line after each trace
	Group       bool     // --group: each statement path once, with a summary of its other calls
	NoGroup     bool     // --no-group: every trace, even on a terminal
	SrcPaths    []string // --source-path OLD=NEW
	Command     string   // -c CMD
	PID         int      // -x PID
	Verbose     bool     // -v: with -L/-l, one row per probe with its address; tracing, every note
	Quiet       bool     // -q: no notes (errors are still printed)
	Output      string   // -o FILE: traces and statistics go there instead of stdout
	// MaxTraces stops tracing after that many committed traces (0: no limit).
	MaxTraces int
	// MaxRecords and RingBuf size the speculation buffers (0: defaults).
	MaxRecords int
	RingBuf    int
	Help       bool
	Version    bool
	// Positional: TARGET FUNCTION CONDITION [VARIABLE]
	Positional []string
}

// usageError is a command-line mistake; it is printed with a hint to --help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parseArgs accepts flags before or after the positional arguments, as the
// article's command lines put -c and -x after them. "--" ends the flags.
func parseArgs(argv []string) (*Args, error) {
	a := &Args{}
	value := func(i *int, name string) (string, error) {
		if *i+1 >= len(argv) {
			return "", usagef("flag %s needs a value", name)
		}
		*i++
		return argv[*i], nil
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			a.Positional = append(a.Positional, argv[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' || isNumber(arg) || !flagRE.MatchString(arg) {
			a.Positional = append(a.Positional, arg)
			continue
		}
		name, val, hasVal := strings.Cut(arg, "=")
		get := func() (string, error) {
			if hasVal {
				return val, nil
			}
			return value(&i, name)
		}
		var err error
		switch name {
		case "-L":
			a.List, err = get()
		case "-l":
			a.ListNames, err = get()
		case "-r":
			if a.Release, err = get(); err == nil && a.Release == "" {
				return nil, usagef("-r needs a kernel release, as uname -r prints it")
			}
		case "--debug-dir", "-debug-dir":
			var d string
			d, err = get()
			a.DebugDirs = append(a.DebugDirs, d)
		case "--json", "-json":
			a.JSON = true
		case "--source", "-source":
			a.Source = true
		case "--floor", "-floor":
			a.Floor = true
		case "--annotate", "-annotate":
			a.Annotate = true
		case "--no-verdict", "-no-verdict":
			a.NoVerdict = true
		case "--backtrace", "-backtrace":
			a.Backtrace = true
		case "--follow", "-follow":
			a.FollowDepth = 0
			if hasVal {
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 || n > tracer.MaxFollowDepth {
					return nil, usagef("--follow=%s: DEPTH is a number of call levels, 1 to %d", val, tracer.MaxFollowDepth)
				}
				a.FollowDepth = n
			}
			a.Follow = true
		case "--follow-eager", "-follow-eager":
			a.FollowEager = true
		case "--group", "-group":
			a.Group = true
		case "--no-group", "-no-group":
			a.NoGroup = true
		case "--source-path", "-source-path":
			var v string
			if v, err = get(); err == nil {
				if _, perr := source.ParseSubstitution(v); perr != nil {
					return nil, usagef("--source-path: %v", perr)
				}
				a.SrcPaths = append(a.SrcPaths, v)
			}
		case "-c":
			if a.Command, err = get(); err == nil && strings.TrimSpace(a.Command) == "" {
				return nil, usagef("-c needs a command to run, not an empty string (without -c every process running TARGET is traced)")
			}
		case "-x":
			var s string
			if s, err = get(); err == nil {
				a.PID, err = strconv.Atoi(s)
				if err != nil || a.PID <= 0 {
					return nil, usagef("-x wants a process id, a positive number, not %q", s)
				}
			}
		case "-v":
			a.Verbose = true
		case "-q":
			a.Quiet = true
		case "-o":
			if a.Output, err = get(); err == nil && a.Output == "" {
				return nil, usagef("-o needs a file name")
			}
		case "--max-traces", "-max-traces":
			var v string
			if v, err = get(); err == nil {
				a.MaxTraces, err = strconv.Atoi(v)
				if err != nil || a.MaxTraces <= 0 {
					return nil, usagef("--max-traces wants a positive number of traces, not %q", v)
				}
			}
		case "--max-statements", "-max-statements":
			var v string
			if v, err = get(); err == nil {
				a.MaxRecords, err = strconv.Atoi(v)
				if err != nil || a.MaxRecords <= 0 || a.MaxRecords > 65536 {
					return nil, usagef("--max-statements wants a number of statements from 1 to 65536, not %q", v)
				}
			}
		case "--ringbuf-size", "-ringbuf-size":
			var v string
			if v, err = get(); err == nil {
				a.RingBuf, err = parseSize(v)
				if err != nil {
					return nil, usagef("--ringbuf-size: %v", err)
				}
			}
		case "--placement", "-placement":
			if a.Placement, err = get(); err == nil && a.Placement != "auto" && a.Placement != "naive" {
				return nil, usagef("--placement wants auto or naive, not %q", a.Placement)
			}
		case "-h", "--help", "-help":
			a.Help = true
		case "--version", "-version", "-V":
			a.Version = true
		default:
			return nil, usagef("unknown flag %s", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if a.List != "" && a.ListNames != "" {
		return nil, usagef("-L and -l cannot be used together")
	}
	if a.Verbose && a.Quiet {
		return nil, usagef("-v and -q cannot be used together")
	}
	if a.Command != "" && a.PID != 0 {
		return nil, usagef("-c and -x cannot be used together")
	}
	if a.FollowEager && !a.Follow {
		return nil, usagef("--follow-eager changes what --follow probes: give --follow too")
	}
	return a, nil
}

// flagRE is what a flag looks like; anything else starting with "-" (a
// condition such as "-$return == EINVAL") is a positional argument.
var flagRE = regexp.MustCompile(`^--?[A-Za-z][A-Za-z-]*(=.*)?$`)

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 0, 64)
	return err == nil
}

// parseSize reads a ring buffer size such as 4096, 64K or 8M: a power of
// two, at least one page.
func parseSize(s string) (int, error) {
	mult := 1
	t := strings.ToUpper(s)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (like 64K or 4M)", s)
	}
	n *= mult
	if n < 4096 || n&(n-1) != 0 || n > 1<<30 {
		return 0, fmt.Errorf("%q must be a power of two from 4K to 1G", s)
	}
	return n, nil
}
