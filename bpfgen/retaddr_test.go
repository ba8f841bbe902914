package bpfgen

import (
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target"
)

// TestReturnIntoVerify: statements filtered by their return address (in
// one program each, and dispatched by cookie in one program) load, for
// kernel and user targets; the filter compares against both ends of every
// range.
func TestReturnIntoVerify(t *testing.T) {
	requireBPF(t)
	ranges := [][2]uint64{{0xffffffff81270600, 0xffffffff81271605}, {0xffffffff81000000, 0xffffffff81000010}}
	for _, space := range []target.AddressSpace{target.UserSpace, target.KernelSpace} {
		for _, multi := range []bool{false, true} {
			spec := &Spec{Space: space, EntryOffset: 0x1000, EntryPC: 0xffffffff81274790, RetSize: 8, Multi: multi,
				Cond: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -22}},
				Stmts: []Stmt{
					{ID: 0, PC: 0xffffffff81264870, FileOffset: 0x2000, Vars: []ir.Var{{Name: "ra", Expr: []byte{0x77, 0x00}, Size: 8}}, ReturnInto: ranges},
					{ID: 1, PC: 0xffffffff81264a28, FileOffset: 0x2010, Vars: []ir.Var{{Name: "ra", Expr: []byte{0x77, 0x00}, Size: 8}, {Name: "rax", Expr: []byte{0x50}, Size: 8}}, ReturnInto: ranges},
				},
			}
			if space == target.KernelSpace {
				spec.EntrySymbol = "__x64_sys_perf_event_open"
			}
			g, err := Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			compares := 0
			for _, p := range g.Collection.Programs {
				for _, ins := range p.Instructions {
					if ins.OpCode.JumpOp() == asm.JLT && ins.OpCode.Source() == asm.RegSource {
						compares++
					}
				}
			}
			if compares < 2*2*len(ranges) {
				t.Errorf("space %v multi %v: %d unsigned compares, want at least %d (both ends of each range, in each statement)", space, multi, compares, 2*2*len(ranges))
			}
			mustLoad(t, g)
		}
	}
}
