package tracer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"testing"

	"github.com/cilium/ebpf/features"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

var (
	tidRE       = regexp.MustCompile(`(?m)^(\S+)\[\d+\]`)
	detachingRE = regexp.MustCompile(`(?m)^whythefail: detaching \d+ (single uprobes, one kernel wait each|probes \(taking over a second\))\.\.\.\n`)
)

// TestSingleUprobesSameOutput traces the demo's failing call with
// uprobe_multi links (where the kernel has them) and with the fallback of
// one uprobe per probe point, with address randomization off so that the
// values are the same: the printed traces and statistics must be identical.
func TestSingleUprobesSameOutput(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	if err := features.HaveBPFLinkUprobeMulti(); err != nil {
		t.Logf("this kernel has no uprobe_multi links (%v): both runs take the fallback", err)
	}
	for _, v := range []fixture.Variant{{Compiler: "gcc", Opt: "-O2", PIE: true}, {Compiler: "clang", Opt: "-O0", PIE: false}} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			var cfg tracer.Config
			cfg.Target, cfg.Function, cfg.Condition = fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -22"
			if b.DebugDir != "" {
				cfg.DebugDirs = []string{b.DebugDir}
			}
			job, err := tracer.Prepare(cfg)
			if err != nil {
				t.Fatal(err)
			}
			run := func(single bool) (string, string) {
				var out, diag bytes.Buffer
				status, err := job.Run(context.Background(), &out, tracer.RunOptions{
					Command: fmt.Sprintf("setarch -R %q 200", b.Path), SingleUprobes: single,
					Stdout: io.Discard, Stderr: io.Discard, Diag: &diag,
				})
				if err != nil || status != 0 {
					t.Fatalf("SingleUprobes %v: status %d, %v; diagnostics:\n%s", single, status, err, diag.String())
				}
				return tidRE.ReplaceAllString(out.String(), "$1[TID]"), diag.String()
			}
			multi, multiDiag := run(false)
			single, singleDiag := run(true)
			if single != multi {
				t.Errorf("the fallback prints differently (-uprobe_multi +single uprobes):\n%s", fixture.Diff(multi, single))
			}
			// Single uprobes may take over a second to detach (and so
			// may anything on a loaded machine), which whythefail
			// says; the rest is the same.
			singleDiag = detachingRE.ReplaceAllString(singleDiag, "")
			multiDiag = detachingRE.ReplaceAllString(multiDiag, "")
			if singleDiag != multiDiag {
				t.Errorf("diagnostics differ (-uprobe_multi +single uprobes):\n%s", fixture.Diff(multiDiag, singleDiag))
			}
			if !bytes.Contains([]byte(multi), []byte("function(load_config) $return: -22\n")) {
				t.Errorf("no trace of the failing call:\n%s", multi)
			}
		})
	}
}

// TestSingleUprobesFollow: --follow's probes, some in a shared library
// (viaplt's call into libfollow.so and its callee there), print the same
// calls, origin and chain with single uprobes as with uprobe_multi links.
func TestSingleUprobesFollow(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	b := fixture.Build(t, "follow", fixture.Default)
	cfg := tracer.Config{Target: fmt.Sprintf("process(%q)", b.Path), Function: "viaplt", Condition: "$return < 0", Follow: true, FollowEager: true}
	job, err := tracer.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := func(single bool) string {
		var out, diag bytes.Buffer
		status, err := job.Run(context.Background(), &out, tracer.RunOptions{
			Command: fmt.Sprintf("setarch -R %q", b.Path), SingleUprobes: single,
			Stdout: io.Discard, Stderr: io.Discard, Diag: &diag,
		})
		if err != nil || status != 0 {
			t.Fatalf("SingleUprobes %v: status %d, %v; diagnostics:\n%s", single, status, err, diag.String())
		}
		return tidRE.ReplaceAllString(out.String(), "$1[TID]")
	}
	multi, single := run(false), run(true)
	if single != multi {
		t.Errorf("the fallback prints differently (-uprobe_multi +single uprobes):\n%s", fixture.Diff(multi, single))
	}
	if !regexp.MustCompile(`(?m)^chain: viaplt → lib_open@plt \(\S+\) returned -2 → lib_find \(\S+followlib\.c:\d+\) returned -2$`).MatchString(multi) {
		t.Errorf("no chain into libfollow.so:\n%s", multi)
	}
}
