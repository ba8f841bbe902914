package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestHeaderNamesResolvedFunction: FUNCTION given as a glob prints the
// function it matched in each trace's header.
func TestHeaderNamesResolvedFunction(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Default)
	target := fmt.Sprintf("process(%q)", b.Path)
	r := traceRun(t, target, "load_conf*", "$return == -22", "-c", b.Path+" 20 >/dev/null")
	defer dumpOnFailure(t, r)
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Fatalf("exit status %d", r.status)
	}
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	if want := fmt.Sprintf("demo[%d] %s function(load_config) $return: -22", traces[0].tid, target); traces[0].header != want {
		t.Errorf("header %q, want %q", traces[0].header, want)
	}
}

// TestOutputFile: with -o FILE the traces and statistics go to FILE, and
// whythefail's stdout, which the -c command shares, holds only the
// command's own output.
func TestOutputFile(t *testing.T) {
	fixture.RequireBPF(t)
	bin := fixture.Whythefail(t)
	b := fixture.Build(t, "demo", fixture.Default)
	out := filepath.Join(t.TempDir(), "traces.txt")
	cmd := exec.Command(bin, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -22", "-q", "-o", out, "-c", b.Path+" 20")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: stderr %q", err, stderr.String())
	}
	if want := "load_config(\"batch:16,debug\"): Invalid argument\n20 loads, 1 failed, 142 workers\n"; stdout.String() != want || stderr.String() != "" {
		t.Errorf("stdout %q, stderr %q; want %q and nothing", stdout.String(), stderr.String(), want)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	traces, stats := parseOutput(t, string(text))
	checkStats(t, stats, 20, 1, 19)
	if len(traces) != 1 || traces[0].ret != "-22" {
		t.Errorf("%s holds %d traces, want the one returning -22:\n%s", out, len(traces), text)
	}
}

// TestMaxTraces: --max-traces 2 stops after two committed traces as Ctrl-C
// does: probes detached (traceRun checks), statistics printed, exit 0, and
// the -c command goes on untraced to its end.
func TestMaxTraces(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Default)
	progOut := filepath.Join(t.TempDir(), "demo.out")
	const calls = 100000
	r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == 0", "--max-traces", "2", "-c", fmt.Sprintf("%q %d >%q", b.Path, calls, progOut))
	defer dumpOnFailure(t, r)
	if r.status != 0 {
		t.Fatalf("exit status %d", r.status)
	}
	traces, stats := parseOutput(t, r.stdout)
	if len(traces) != 2 {
		t.Errorf("%d traces, want 2", len(traces))
	}
	statementCount(t, stats)
	// The command may have finished while the probes were being removed.
	note := "whythefail: note: stopped after 2 traces (--max-traces): probes detached"
	if !strings.HasSuffix(r.stderr, note+"\n") && !strings.HasSuffix(r.stderr, note+"; the command goes on untraced\n") {
		t.Errorf("stderr %q, want it to end with %q", r.stderr, note)
	}
	// The command was not stopped: it finishes, untraced, every call.
	want := fmt.Sprintf("%d loads, 1 failed, ", calls)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, _ := os.ReadFile(progOut)
		if strings.Contains(string(got), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command did not finish its %d calls after whythefail stopped: %q", calls, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBareProgramName: a program named without a slash is looked up in
// PATH, as stap does, unless a file of that name is in the current
// directory; a name with a slash is never looked up.
func TestBareProgramName(t *testing.T) {
	b := fixture.Build(t, "demo", fixture.Default)
	other := fixture.Build(t, "recurse", fixture.Default)
	t.Setenv("PATH", filepath.Dir(b.Path)+string(os.PathListSeparator)+os.Getenv("PATH"))
	list := func(spec string) result {
		t.Helper()
		r := runCLI("-l", spec)
		return result{string(b.Redact([]byte(r.stdout))), string(b.Redact([]byte(r.stderr))), r.status}
	}
	want := fmt.Sprintf("process(\"%s/demo\").function(\"load_config@%s/demo.c:", fixture.BuildPrefix, fixture.SourcePrefix)
	if r := list(`process("demo").function("load_config")`); r.status != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("from PATH: got %+v, want one line starting %s", r, want)
	}
	// A file named demo in the current directory wins, and ./demo means it.
	dir := t.TempDir()
	data, err := os.ReadFile(other.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, name := range []string{"demo", "./demo"} {
		r := list(fmt.Sprintf(`process(%q).function("load_config")`, name))
		if r.status != 1 || !strings.Contains(r.stderr, " in "+dir+"/demo") {
			t.Errorf("process(%q) in a directory holding another demo: %+v, want an error about %s/demo", name, r, dir)
		}
	}
	t.Chdir(filepath.Dir(dir))
	if r := list(`process("./demo").function("load_config")`); r.status != 1 {
		t.Errorf("./demo was looked up in PATH: %+v", r)
	}
	if testing.Short() {
		return
	}
	fixture.RequireBPF(t)
	r := traceRun(t, `process("demo")`, "load_config", "$return == -22", "-c", "demo 20 >/dev/null")
	defer dumpOnFailure(t, r)
	traces, _ := parseOutput(t, r.stdout)
	if r.status != 0 || len(traces) != 1 || traces[0].target != `process("demo")` || traces[0].function != "load_config" {
		t.Errorf("tracing process(\"demo\") from PATH: exit %d, %d traces", r.status, len(traces))
	}
}

// TestDebugPackageAdvice: tracing a distribution's program without its
// debug info names the real debug package of the package that owns it
// (ls is coreutils', found through PATH and the /usr merge), and a
// program the user built is to be rebuilt with -g.
func TestDebugPackageAdvice(t *testing.T) {
	t.Setenv("DEBUGINFOD_URLS", "")
	if _, err := os.Stat("/usr/lib/debug/.build-id"); err == nil {
		if id, err := fixture.BuildID("/usr/bin/ls"); err == nil {
			h := fmt.Sprintf("%x", id)
			if _, err := os.Stat(fmt.Sprintf("/usr/lib/debug/.build-id/%s/%s.debug", h[:2], h[2:])); err == nil {
				t.Skip("coreutils-dbgsym is installed: ls has debug info")
			}
		}
	}
	r := runCLI("ls", "main", "1", "-c", "true")
	re := regexp.MustCompile(`^whythefail: no debug info for /usr/bin/ls \(build-id [0-9a-f]+\): install coreutils-dbgsym \(the debug info of package coreutils, which owns it; Debian keeps -dbgsym packages in the debian-debug archive\) or set DEBUGINFOD_URLS\n$`)
	if r.status != 1 || r.stdout != "" || !re.MatchString(r.stderr) {
		t.Errorf("ls: exit %d, stdout %q, stderr %q; want 1 and one line matching %s", r.status, r.stdout, r.stderr, re)
	}
}
