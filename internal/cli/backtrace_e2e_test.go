package cli_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// btFrame is one frame line of --backtrace's text.
type btFrame struct {
	function, file, binary string
	line                   int
	inlined                bool
}

var (
	btFrameRE = regexp.MustCompile(`^  #(\d+) 0x[0-9a-f]+ (\S+)( \(inlined\))?(?: at (\S+):(\d+))?(?: in (\S+))?$`)
	btStopRE  = regexp.MustCompile(`^  \(unwinding stopped: (.+)\)$`)
)

// backtraces returns the frames of each "backtrace:" block of out, the
// binary filled in from the frame above where the line leaves it out, and
// the reason each stopped ("" when it reached the outermost frame).
func backtraces(t *testing.T, out string) (bts [][]btFrame, stops []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "backtrace:" {
			continue
		}
		var frames []btFrame
		stop := ""
		for i++; i < len(lines) && strings.HasPrefix(lines[i], "  "); i++ {
			if m := btStopRE.FindStringSubmatch(lines[i]); m != nil {
				stop = m[1]
				continue
			}
			m := btFrameRE.FindStringSubmatch(lines[i])
			if m == nil {
				t.Fatalf("unexpected backtrace line %q", lines[i])
			}
			if n, _ := strconv.Atoi(m[1]); n != len(frames) {
				t.Errorf("frame line %q is not frame #%d", lines[i], len(frames))
			}
			f := btFrame{function: m[2], inlined: m[3] != "", file: m[4], binary: m[6]}
			f.line, _ = strconv.Atoi(m[5])
			if f.binary == "" && len(frames) > 0 {
				f.binary = frames[len(frames)-1].binary
			}
			frames = append(frames, f)
		}
		bts, stops = append(bts, frames), append(stops, stop)
	}
	return bts, stops
}

// TestBacktraceCallers: check_mode is called by open_plain and open_bad
// with different modes and fails only for open_bad's; the backtrace of
// the one committed trace names open_bad at its call and main at its call
// of open_bad, then glibc's start-up code down to _start, where the CFI
// says there is no caller. In both compilers at -O0 and -O2 (no frame
// pointers there), PIE or not, with split and dwz-compressed debug info.
func TestBacktraceCallers(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("callers")
	callBad := fixture.Line(t, src, "call-bad")
	mainBad := fixture.Line(t, src, "main-bad")
	const file = "/fixture/src/callers.c"
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "callers", v)
			args := []string{fmt.Sprintf("process(%q)", b.Path), "check_mode", "$return == -22 && $mode == 0x101", "--backtrace", "-c", b.Path + " >/dev/null"}
			if b.DebugDir != "" {
				args = append([]string{"--debug-dir", b.DebugDir}, args...)
			}
			r := traceRun(t, args...)
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Fatalf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			bts, stops := backtraces(t, r.stdout)
			if len(bts) != 1 {
				t.Fatalf("%d backtraces, want 1", len(bts))
			}
			if i, j := strings.Index(r.stdout, "\nwhy: "), strings.Index(r.stdout, "\nbacktrace:\n"); i < 0 || j < i {
				t.Errorf("the backtrace does not follow the why: line")
			}
			bt := bts[0]
			if len(bt) < 4 {
				t.Fatalf("%d frames, want check_mode, open_bad, main and glibc's start-up: %v", len(bt), bt)
			}
			if f := bt[0]; f.function != "check_mode" || f.file != file || f.binary != b.Path {
				t.Errorf("frame 0 = %+v, want check_mode in %s", f, file)
			}
			if want := (btFrame{function: "open_bad", file: file, line: callBad, binary: b.Path}); bt[1] != want {
				t.Errorf("frame 1 = %+v, want %+v", bt[1], want)
			}
			if want := (btFrame{function: "main", file: file, line: mainBad, binary: b.Path}); bt[2] != want {
				t.Errorf("frame 2 = %+v, want %+v", bt[2], want)
			}
			if f := bt[3]; f.function != "__libc_start_call_main" || !strings.Contains(f.binary, "libc.so") {
				t.Errorf("frame 3 = %+v, want __libc_start_call_main in libc", f)
			}
			if f := bt[len(bt)-1]; f.function != "_start" || f.binary != b.Path || stops[0] != "" {
				t.Errorf("last frame %+v, stop %q: want _start in the fixture and no stop", f, stops[0])
			}
		})
	}
}

// TestBacktraceGlibc traces getaddrinfo in libc, which callers' resolve
// calls with flags it rejects: the JSON backtrace goes from getaddrinfo
// (with its file, from libc6-dbg) through the PLT-called return into the
// fixture, naming resolve and main at their calls.
func TestBacktraceGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("callers")
	callGai := fixture.Line(t, src, "call-gai")
	mainGai := fixture.Line(t, src, "main-gai")
	for _, v := range []fixture.Variant{fixture.Default, {Compiler: "clang", Opt: "-O0", PIE: false}} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "callers", v)
			r := traceRun(t, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "getaddrinfo", "$return != 0", "--backtrace", "--json", "-c", b.Path+" >/dev/null")
			defer dumpOnFailure(t, r)
			if r.status != 0 {
				if strings.Contains(r.stderr, "debug") {
					fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
				}
				t.Fatalf("exit status %d", r.status)
			}
			type frame struct {
				PC       uint64 `json:"pc"`
				Binary   string `json:"binary"`
				Function string `json:"function"`
				File     string `json:"file"`
				Line     int    `json:"line"`
				Inlined  bool   `json:"inlined"`
			}
			var traces []struct {
				Type      string `json:"type"`
				Backtrace *struct {
					Frames []frame `json:"frames"`
					Stop   string  `json:"stop"`
				} `json:"backtrace"`
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			for dec.More() {
				var tr struct {
					Type      string `json:"type"`
					Backtrace *struct {
						Frames []frame `json:"frames"`
						Stop   string  `json:"stop"`
					} `json:"backtrace"`
				}
				if err := dec.Decode(&tr); err != nil {
					t.Fatal(err)
				}
				if tr.Type == "trace" {
					traces = append(traces, tr)
				}
			}
			if len(traces) != 1 || traces[0].Backtrace == nil {
				t.Fatalf("%d traces (want 1) or no backtrace", len(traces))
			}
			fs := traces[0].Backtrace.Frames
			if len(fs) < 3 {
				t.Fatalf("frames %+v, want getaddrinfo, resolve, main and more", fs)
			}
			if f := fs[0]; f.Function != "getaddrinfo" || !strings.HasSuffix(f.File, "getaddrinfo.c") || !strings.Contains(f.Binary, "libc.so") || f.Line == 0 {
				t.Errorf("frame 0 = %+v, want getaddrinfo at getaddrinfo.c in libc", f)
			}
			for i, want := range []frame{{Function: "resolve", Line: callGai}, {Function: "main", Line: mainGai}} {
				want.File, want.Binary, want.PC = "/fixture/src/callers.c", b.Path, fs[i+1].PC
				if fs[i+1] != want {
					t.Errorf("frame %d = %+v, want %+v", i+1, fs[i+1], want)
				}
			}
			if f := fs[len(fs)-1]; f.Function != "_start" || traces[0].Backtrace.Stop != "" {
				t.Errorf("last frame %+v, stop %q: want _start and no stop", f, traces[0].Backtrace.Stop)
			}
		})
	}
}

// TestBacktraceInlined: open_inlined is inlined into main (always_inline)
// and fails there: the backtrace gives it a frame of its own, marked
// inlined, at its call of check_mode, then main at the line that calls
// it, at the same return address.
func TestBacktraceInlined(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("callers")
	callInl := fixture.Line(t, src, "call-inlined")
	mainInl := fixture.Line(t, src, "main-inlined")
	const file = "/fixture/src/callers.c"
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "callers", v)
			r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "check_mode", "$mode == 0x301", "--backtrace", "-c", b.Path+" >/dev/null")
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Fatalf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			bts, _ := backtraces(t, r.stdout)
			if len(bts) != 1 || len(bts[0]) < 3 {
				t.Fatalf("backtraces %v, want one of at least 3 frames", bts)
			}
			bt := bts[0]
			want := []btFrame{
				{function: "open_inlined", inlined: true, file: file, line: callInl, binary: b.Path},
				{function: "main", file: file, line: mainInl, binary: b.Path},
			}
			for i, w := range want {
				if bt[i+1] != w {
					t.Errorf("frame %d = %+v, want %+v", i+1, bt[i+1], w)
				}
			}
		})
	}
}
