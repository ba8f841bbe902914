package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/internal/fixture"
)

// groupRE matches the line that stands for a path's other calls.
var groupRE = regexp.MustCompile(`^\[\.\.\. (\d+) more calls took (this path|the path of \S+'s trace above)(?:; they differed in (.*))? \.\.\.\]$`)

// groupedTrace is one path as --group prints it: its first trace's lines
// and how many more calls took it, with the differences named.
type groupedTrace struct {
	lines []string
	more  int
	diffs string
}

// parseGroups splits grouped output into paths and the statistics.
func parseGroups(t *testing.T, out string) ([]groupedTrace, []string) {
	t.Helper()
	body, stats, ok := strings.Cut(out, "\nstatistics:\n")
	if !ok {
		t.Fatalf("no statistics in:\n%s", out)
	}
	var gs []groupedTrace
	for _, l := range strings.Split(body, "\n") {
		switch m := groupRE.FindStringSubmatch(l); {
		case l == "":
		case headerRE.MatchString(l):
			gs = append(gs, groupedTrace{lines: []string{l}})
		case len(gs) == 0:
			t.Fatalf("line %q before any trace", l)
		case m != nil:
			g := &gs[len(gs)-1]
			g.more, _ = strconv.Atoi(m[1])
			g.diffs = m[3]
		default:
			g := &gs[len(gs)-1]
			g.lines = append(g.lines, l)
		}
	}
	return gs, strings.Split(strings.TrimSuffix(stats, "\n"), "\n")
}

// TestGroup traces a recursive function in four threads: every call fails,
// the deepest level one way and its callers another. --group prints one
// trace per path, the calls counted add up to the exit-hit count, and the
// summary names what differed: the worker everywhere, the level only
// among the callers. Without --group (a pipe) every trace prints, with
// the same statistics.
func TestGroup(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("rgroup")
	marks := fixture.Markers(t, src)
	for _, v := range []fixture.Variant{{Compiler: "gcc", Opt: "-O0", PIE: true}, {Compiler: "clang", Opt: "-O0", PIE: true}} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "rgroup", v)
			args := []string{fmt.Sprintf("process(%q)", b.Path), "descend", "$return < 0", "-c", b.Path + " >/dev/null"}
			r := traceRun(t, append([]string{"--group"}, args...)...)
			defer dumpOnFailure(t, r)
			gs, stats := parseGroups(t, r.stdout)
			checkStats(t, stats, 80, 80, 0)
			if len(gs) != 2 {
				t.Fatalf("%d paths, want 2 (the deepest level, its callers)", len(gs))
			}
			total := 0
			for _, g := range gs {
				total += 1 + g.more
				deepest := strings.Contains(strings.Join(g.lines, "\n"), fmt.Sprintf("/fixture/src/rgroup.c:%d ", marks["deepest"]))
				// Other variables may differ too: r's stack slot holds
				// what an earlier call left there until it is set.
				diffs := " " + g.diffs + " "
				if !strings.Contains(diffs, " worker=0x0..0x3 ") || deepest == strings.Contains(diffs, " level=0x0..0x2 ") || (deepest && strings.Contains(diffs, " level=")) {
					t.Errorf("path of %q: differed in %q, want worker=0x0..0x3, and level=0x0..0x2 only among the callers", g.lines[0], g.diffs)
				}
				if n := map[bool]int{true: 19, false: 59}[deepest]; g.more != n {
					t.Errorf("path of %q: %d more calls, want %d", g.lines[0], g.more, n)
				}
			}
			if total != 80 {
				t.Errorf("the paths count %d calls, want the exit-hit count 80", total)
			}

			all := traceRun(t, args...)
			traces, allStats := parseOutput(t, all.stdout)
			if len(traces) != 80 || strings.Contains(all.stdout, "[... ") {
				t.Errorf("without --group: %d traces, want all 80", len(traces))
			}
			if strings.Join(allStats, "\n") != strings.Join(stats, "\n") {
				t.Errorf("statistics differ: %q with --group, %q without", stats, allStats)
			}
		})
	}
}

// TestGroupTerminal: on a terminal a path prints three times, its later
// calls are counted, and a note says so.
func TestGroupTerminal(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "rgroup", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	master, slave := openPTY(t)
	defer master.Close()
	var got bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&got, master)
		close(copied)
	}()
	r := traceRun(t, "-o", slave, fmt.Sprintf("process(%q)", b.Path), "descend", "$return < 0", "-c", b.Path+" >/dev/null")
	defer dumpOnFailure(t, r)
	if !strings.Contains(r.stderr, "whythefail: note: a statement path ran more than 3 times") {
		t.Errorf("no note about grouping on stderr: %q", r.stderr)
	}
	// Reading the master ends (EIO) once whythefail closed the slave.
	select {
	case <-copied:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal's output did not end; so far:\n%s", got.String())
	}
	out := strings.ReplaceAll(got.String(), "\r\n", "\n")
	gs, stats := parseGroups(t, out)
	checkStats(t, stats, 80, 80, 0)
	if len(gs) != 6 {
		t.Fatalf("%d traces printed, want 3 of each of the 2 paths", len(gs))
	}
	// The summaries of both paths come at the end.
	counted := len(gs)
	sums := 0
	for _, l := range strings.Split(out, "\n") {
		if m := groupRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			counted += n
			sums++
		}
	}
	if sums != 2 {
		t.Errorf("%d summary lines, want one per path", sums)
	}
	if counted != 80 {
		t.Errorf("%d calls printed or counted, want 80", counted)
	}
}

// openPTY opens a pseudo-terminal: the master to read, and the slave's
// path for -o.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), fmt.Sprintf("/dev/pts/%d", n)
}
