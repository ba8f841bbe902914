package session

import (
	"testing"

	"github.com/whythefail/whythefail/insn"
	fx "github.com/whythefail/whythefail/internal/fixture"
)

// TestProbeEmulation measures the running kernel: the classes every
// kernel since 3.x emulates (direct calls, jumps, conditional jumps, the
// one-byte nop) must come out emulated.
func TestProbeEmulation(t *testing.T) {
	fx.RequireBPF(t)
	e, err := ProbeEmulation()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []insn.Class{insn.ClassCall, insn.ClassJmp8, insn.ClassJmp32, insn.ClassJcc8, insn.ClassJcc32, insn.ClassNop} {
		if !e[c] {
			t.Errorf("%s is not emulated: %v", c, e)
		}
	}
	t.Logf("%v", e)
}
