package tracer_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestPrepareGenerates: Prepare generates the BPF programs, so an error of
// generation that does not depend on the kernel (here an invocation buffer
// too large for the record limit) comes from Prepare, which touches no
// kernel, rather than from Run after the privilege checks.
func TestPrepareGenerates(t *testing.T) {
	b := fixture.Build(t, "demo", fixture.Default)
	cfg := tracer.Config{Target: fmt.Sprintf("process(%q)", b.Path), Function: "load_config", Condition: "$return == -22", Variable: "$$vars"}
	if b.DebugDir != "" {
		cfg.DebugDirs = []string{b.DebugDir}
	}
	if _, err := tracer.Prepare(cfg); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	cfg.MaxRecords = 65536
	job, err := tracer.Prepare(cfg)
	// The size depends on how many values the compiler leaves to read.
	want := regexp.MustCompile(`^generating BPF programs: invocation buffer of \d+ bytes is too large: lower the record limit$`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Errorf("65536 records: job %v, error %v; want %v", job, err, want)
	}
}

// TestPrepareRefusedUprobe: a statement whose first instruction the
// kernel takes no uprobe on (here a VEX-encoded one) is left out of the
// plan with one note naming its line, instead of the whole attachment
// failing with the kernel's "operation not supported"; a function whose
// first instruction is refused cannot be traced, said in one line.
func TestPrepareRefusedUprobe(t *testing.T) {
	fixture.NeedTool(t, "gcc")
	dir := t.TempDir()
	src := "__attribute__((noinline)) int f(int x)\n{\n\tx++;\n\t__asm__ volatile(\"vzeroupper\");\n\treturn x;\n}\n\n" +
		"__attribute__((naked, noinline)) int g(void)\n{\n\t__asm__(\"vzeroupper\\n\\tret\");\n}\n\nint main(void) { return f(1) + g() - 2; }\n"
	line := 0
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "vzeroupper\");") {
			line = i + 1
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "vex.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vex")
	if out, err := exec.Command("gcc", "-g", "-O0", "-o", bin, filepath.Join(dir, "vex.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, out)
	}
	cfg := tracer.Config{Target: fmt.Sprintf("process(%q)", bin), Function: "f", Condition: "1", Variable: "$$vars"}
	job, err := tracer.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the kernel takes no uprobe on the instruction where %s:%d starts: that statement is not traced and prints no line (-v names the instruction)", filepath.Join(dir, "vex.c"), line)
	if !slices.Contains(job.Notes, want) {
		t.Errorf("notes %q\nwant %q", job.Notes, want)
	}
	cfg.Function = "g"
	if _, err := tracer.Prepare(cfg); err == nil || err.Error() != "the kernel takes no uprobe on g's first instruction (vzeroupper): it cannot be traced" {
		t.Errorf("g: %v", err)
	}
}
