package report

import (
	"strings"
	"testing"
)

// TestKernelMissStats: the returns a kretprobe missed and the probe hits
// the kernel skipped are printed when non-zero, after the other losses.
func TestKernelMissStats(t *testing.T) {
	var b strings.Builder
	if err := (&Text{W: &b}).Stats(Stats{Entries: 5, ExitHit: 1, ExitMiss: 3, Statements: 9, ReturnMisses: 2, ProgramMisses: 1}); err != nil {
		t.Fatal(err)
	}
	want := "\nstatistics:\nentry count: 5\nexit-hit count: 1\nexit-miss count: 3\nstatement count: 9\n" +
		"missed-return (kretprobe instances all in use; upper bound, every task's calls) count: 2\n" +
		"missed-probe-hit (another BPF program was running) count: 1\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
