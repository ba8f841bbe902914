package bpfgen

import (
	"reflect"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
)

// TestEntryGroup: when several statements sit at the function's entry (a
// function whose first instruction is a call: the statement of its first
// line and --follow's call-site probe), the entry program records them
// all, after opening the invocation, in plan order (statements before
// branch probes), and they have no program of their own; with single
// uprobes and with uprobe_multi, and the programs load.
func TestEntryGroup(t *testing.T) {
	requireBPF(t)
	for _, multi := range []bool{false, true} {
		st := func(id uint32, off uint64) Stmt {
			return Stmt{ID: id, PC: 0x400000 + off, FileOffset: off, CFA: CFARule{Reg: 7, Offset: 8},
				Vars: []ir.Var{{Name: "k", Expr: []byte{0x55}, Size: 4, Signed: true}}} // DW_OP_reg5
		}
		branch := st(2, 0x1000)
		branch.Branch = true
		spec := &Spec{EntryOffset: 0x1000, EntryPC: 0x401000, RetSize: 4, Multi: multi,
			Stmts: []Stmt{st(0, 0x1000), st(1, 0x1005), branch, st(4, 0x1000)}}
		g, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"", g.StmtPrograms[1], "", ""}; g.StmtPrograms[1] == "" || !reflect.DeepEqual(g.StmtPrograms, want) {
			t.Errorf("multi %v: statement programs %q, want %q", multi, g.StmtPrograms, want)
		}
		// The entry program is straight-line but for forward jumps:
		// the order of its instructions is the order they run in.
		var ids []int64
		opened := -1
		for i, ins := range g.Collection.Programs[ProgEntry].Instructions {
			switch {
			case ins.OpCode.Class() == asm.StXClass && ins.Dst == rBuf && ins.Offset == OffDepth:
				opened = i
			case ins.OpCode.Class() == asm.StClass && ins.Dst == rRec && ins.Offset == RecOffID:
				if opened < 0 {
					t.Errorf("multi %v: statement %d recorded before the invocation is opened", multi, ins.Constant)
				}
				ids = append(ids, ins.Constant)
			}
		}
		if want := []int64{0, 4, 2}; !reflect.DeepEqual(ids, want) {
			t.Errorf("multi %v: the entry program records %v, want %v", multi, ids, want)
		}
		mustLoad(t, g)
	}
}
