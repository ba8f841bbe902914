package tracer_test

import (
	"fmt"
	"regexp"
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
