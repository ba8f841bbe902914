package tracer

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/fixture"
)

// TestKernelPlacementCache checks that the emulated classes are measured
// once per boot: the first call (in a cache of its own) measures and fills
// the entry, the next reads it, and both give the same answer.
func TestKernelPlacementCache(t *testing.T) {
	fixture.RequireBPF(t)
	t.Setenv("WHYTHEFAIL_CACHE_DIR", t.TempDir())
	t.Setenv("WHYTHEFAIL_CACHE", "")
	first, note1 := KernelPlacement()
	second, note2 := KernelPlacement()
	if !strings.Contains(note1, "(measured): ") || !strings.Contains(note2, "(measured this boot): ") {
		t.Fatalf("notes %q and %q: want measured, then measured this boot", note1, note2)
	}
	if strings.SplitN(note1, ": ", 3)[2] != strings.SplitN(note2, ": ", 3)[2] {
		t.Errorf("the cached classes differ: %q, %q", note1, note2)
	}
	for _, c := range insn.Classes {
		if first.Emulated(c) != second.Emulated(c) {
			t.Errorf("%s: measured %v, cached %v", c, first.Emulated(c), second.Emulated(c))
		}
	}
}
