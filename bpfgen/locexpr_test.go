package bpfgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// TestUnsupportedLocations pins the reason given for each location form that
// must print as unavailable rather than risk a wrong value.
func TestUnsupportedLocations(t *testing.T) {
	cfa := CFARule{Reg: 7, Offset: 8}
	for _, tc := range []struct {
		name string
		v    ir.Var
		cfa  CFARule
		want string
	}{
		{"no location", ir.Var{Size: 4}, cfa, "no location at this address"},
		{"odd size", ir.Var{Expr: []byte{0x50}, Size: 3}, cfa, "size 3 is not a scalar size"},
		{"xmm", ir.Var{Expr: []byte{0x61}, Size: 8}, cfa, "register 17 is not in pt_regs"},
		{"branch", ir.Var{Expr: []byte{0x30, 0x28, 0x00, 0x00}, Size: 4}, cfa, "unsupported DWARF operation 0x28"},
		{"unknown op", ir.Var{Expr: []byte{0x18}, Size: 4}, cfa, "unsupported DWARF operation 0x18"},
		{"truncated", ir.Var{Expr: []byte{0x91}, Size: 4}, cfa, "operation 0x91: expression ends inside an operand"},
		{"fbreg without frame base", ir.Var{Expr: []byte{0x91, 0x6c}, Size: 4}, cfa, "DW_OP_fbreg without a frame base"},
		{"no CFA", ir.Var{Expr: []byte{0x91, 0x6c}, FrameBase: []byte{0x9c}, Size: 4}, CFARule{}, "no CFA rule at this address"},
		{"entry value of rbx", ir.Var{Expr: []byte{0xa3, 0x01, 0x53, 0x9f}, Size: 8}, cfa, "entry value of register 3, which is not an argument register"},
		{"entry value of memory", ir.Var{Expr: []byte{0xa3, 0x02, 0x75, 0x00, 0x9f}, Size: 8}, cfa, "entry value of something other than a register"},
		{"optimized-out piece", ir.Var{Expr: []byte{0x93, 0x04, 0x50, 0x93, 0x04}, Size: 8}, cfa, "part of the value is optimized out"},
		{"bit piece", ir.Var{Expr: []byte{0x50, 0x9d, 0x04, 0x00}, Size: 4}, cfa, "unsupported DWARF operation 0x9d"},
		{"too wide", ir.Var{Expr: []byte{0x50, 0x93, 0x08, 0x51, 0x93, 0x08}, Size: 8}, cfa, ""}, // first piece covers it
		{"underflow", ir.Var{Expr: []byte{0x22}, Size: 8}, cfa, "expression stack underflow"},
		{"register then op", ir.Var{Expr: []byte{0x50, 0x23, 0x01}, Size: 8}, cfa, "operation 0x23 after a register or value location"},
		{"addrx unresolved", ir.Var{Expr: []byte{0xa1, 0x00}, Size: 8}, cfa, "DWARF operation 0xa1 not supported here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &Stmt{PC: 0x1000, CFA: tc.cfa}
			err := compileVar(&emitter{}, st, &tc.v, "fail")
			got := ""
			if err != nil {
				got = err.Error()
				var u unsupported
				if !errors.As(err, &u) {
					t.Errorf("error %v is not an unsupported-location error", err)
				}
			}
			if got != tc.want {
				t.Errorf("compileVar = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolveAddrx(t *testing.T) {
	addrs := []uint64{0x4040, 0x1122334455667788}
	lookup := func(i uint64) (uint64, error) {
		if i >= uint64(len(addrs)) {
			return 0, errors.New("out of range")
		}
		return addrs[i], nil
	}
	// breg7 -8, addrx 1, constx 0, plus, stack_value
	in := []byte{0x77, 0x78, 0xa1, 0x01, 0xa2, 0x00, 0x22, 0x9f}
	want := []byte{0x77, 0x78,
		0x03, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		0x0e, 0x40, 0x40, 0, 0, 0, 0, 0, 0,
		0x22, 0x9f}
	got, err := ResolveAddrx(in, lookup)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ResolveAddrx = % x, %v; want % x", got, err, want)
	}
	if got, err := ResolveAddrx([]byte{0xa1, 0x05}, lookup); err == nil {
		t.Errorf("index out of range: got % x, want an error", got)
	}
}

// TestRelocateAddr: every DW_OP_addr of a variable, and of an index
// variable in its access path, becomes DW_OP_const8u of the relocated
// address; other operations are kept; a relocation error leaves the
// variable as it was; an expression that does not decode is left alone.
func TestRelocateAddr(t *testing.T) {
	reloc := func(a uint64) (uint64, error) {
		if a == 0xbad {
			return 0, errors.New("not loaded")
		}
		return a + 0xffffffffc0000000, nil
	}
	addr := func(a uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x03}, a) }
	c8u := func(a uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x0e}, a) }
	// addr 0x1040, plus_uconst 8
	v := ir.Var{Name: "g", Expr: append(addr(0x1040), 0x23, 0x08), Size: 4,
		Steps: []ir.Step{ir.StepIndex{Index: ir.Var{Name: "i", Expr: addr(0x2000), Size: 4}, Scale: 4, Len: 8}, ir.StepDeref{}}}
	changed, err := RelocateAddr(&v, reloc)
	if want := append(c8u(0xffffffffc0001040), 0x23, 0x08); err != nil || !changed || !bytes.Equal(v.Expr, want) {
		t.Errorf("RelocateAddr = %v, %v, expr % x; want % x", changed, err, v.Expr, want)
	}
	if idx, ok := v.Steps[0].(ir.StepIndex); !ok || !bytes.Equal(idx.Index.Expr, c8u(0xffffffffc0002000)) || v.Steps[1] != (ir.StepDeref{}) {
		t.Errorf("steps %+v: want the index variable relocated, the rest kept", v.Steps)
	}
	reg := ir.Var{Name: "r", Expr: []byte{0x55}, Size: 8}
	if changed, err := RelocateAddr(&reg, reloc); changed || err != nil || !bytes.Equal(reg.Expr, []byte{0x55}) {
		t.Errorf("a register: %v, %v, % x", changed, err, reg.Expr)
	}
	bad := ir.Var{Name: "b", Expr: append([]byte{0x55}, addr(0xbad)...), Size: 8}
	if changed, err := RelocateAddr(&bad, reloc); changed || err == nil || !bytes.Equal(bad.Expr, append([]byte{0x55}, addr(0xbad)...)) {
		t.Errorf("a relocation error: %v, %v, % x; want the variable unchanged and the error", changed, err, bad.Expr)
	}
	broken := ir.Var{Name: "x", Expr: []byte{0x03, 0x01}, Size: 8}
	if changed, err := RelocateAddr(&broken, reloc); changed || err != nil {
		t.Errorf("an expression that does not decode: %v, %v", changed, err)
	}
}

// FuzzDecodeExpr checks that any bytes decode to operations or an error,
// never both, that unsupported ones compile to an error rather than a panic,
// and that address index resolution agrees with decoding.
func FuzzDecodeExpr(f *testing.F) {
	for _, v := range allKinds() {
		f.Add(v.Expr, v.FrameBase)
	}
	f.Add([]byte{0xa3, 0x05, 0xa3, 0x02, 0x55, 0x9f, 0x9f}, []byte{})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, []byte{0x91})
	f.Fuzz(func(t *testing.T, expr, fb []byte) {
		ops, err := decodeExpr(expr)
		if err != nil && ops != nil {
			t.Fatalf("decodeExpr = %v, %v: operations and an error", ops, err)
		}
		if err == nil && len(expr) > 0 && len(ops) == 0 {
			t.Fatalf("decodeExpr(% x) = no operations and no error", expr)
		}
		n := 0
		for _, o := range ops {
			n += o.len
		}
		if err == nil && n != len(expr) {
			t.Fatalf("operation lengths add up to %d of %d bytes", n, len(expr))
		}
		res, rerr := ResolveAddrx(expr, func(i uint64) (uint64, error) { return i, nil })
		if (res == nil) == (rerr == nil) && len(expr) > 0 {
			t.Fatalf("ResolveAddrx = % x, %v", res, rerr)
		}
		// RelocateAddr keeps every operation but DW_OP_addr, which
		// becomes DW_OP_const8u of the same size.
		v := ir.Var{Expr: append([]byte(nil), expr...)}
		changed, xerr := RelocateAddr(&v, func(a uint64) (uint64, error) { return ^a, nil })
		if xerr != nil || len(v.Expr) != len(expr) || changed != (err == nil && slices.ContainsFunc(ops, func(o op) bool { return o.code == dwop.Addr })) {
			t.Fatalf("RelocateAddr(% x) = % x, %v, %v", expr, v.Expr, changed, xerr)
		}
		if changed {
			rops, rerr := decodeExpr(v.Expr)
			if rerr != nil || len(rops) != len(ops) {
				t.Fatalf("RelocateAddr(% x) = % x: %d operations, %v; want %d", expr, v.Expr, len(rops), rerr, len(ops))
			}
			for i := range ops {
				want, wantU := ops[i].code, ops[i].u
				if want == dwop.Addr {
					want, wantU = dwop.Const8u, ^ops[i].u
				}
				if rops[i].code != want || rops[i].u != wantU {
					t.Fatalf("RelocateAddr(% x) = % x: operation %d is %#x %#x, want %#x %#x", expr, v.Expr, i, rops[i].code, rops[i].u, want, wantU)
				}
			}
		}
		for _, size := range []int{1, 4, 8} {
			e := &emitter{}
			st := &Stmt{PC: 0x1000, CFA: CFARule{Reg: 7, Offset: 8}}
			if err := compileVar(e, st, &ir.Var{Expr: expr, FrameBase: fb, Size: size}, "fail"); err == nil && len(e.insns) == 0 {
				t.Fatalf("compileVar(% x) emitted nothing and no error", expr)
			}
		}
	})
}

// TestAddressSpace: a variable in memory is read with the helper of the
// target's address space: bpf_probe_read_user for user space; for the
// kernel, bpf_probe_read_user below UserSpaceEnd (a __user pointer) and
// bpf_probe_read_kernel above, chosen at run time by comparing the source
// address (R3) with UserSpaceEnd.
func TestAddressSpace(t *testing.T) {
	for _, c := range []struct {
		space  target.AddressSpace
		want   map[asm.BuiltinFunc]int
		choice bool
	}{
		{target.UserSpace, map[asm.BuiltinFunc]int{asm.FnProbeReadUser: 1}, false},
		{target.KernelSpace, map[asm.BuiltinFunc]int{asm.FnProbeReadUser: 1, asm.FnProbeReadKernel: 1}, true},
	} {
		e := &emitter{space: c.space}
		st := &Stmt{PC: 0x1000, CFA: CFARule{Reg: abi.RSP, Offset: 8}}
		// DW_OP_fbreg -20 with the CFA as frame base: an int on the stack.
		v := &ir.Var{Expr: []byte{0x91, 0x6c}, FrameBase: []byte{0x9c}, Size: 4}
		if err := compileVar(e, st, v, "fail"); err != nil {
			t.Fatal(err)
		}
		calls := map[asm.BuiltinFunc]int{}
		choice := false
		for i, ins := range e.insns {
			if ins.IsBuiltinCall() {
				calls[asm.BuiltinFunc(ins.Constant)]++
			}
			if ins.OpCode.JumpOp() == asm.JGE && ins.Dst == asm.R3 && ins.Src == asm.R4 && i > 0 &&
				!e.insns[i-1].IsLoadFromMap() && e.insns[i-1].Constant == UserSpaceEnd && e.insns[i-1].Dst == asm.R4 {
				choice = true
			}
		}
		if !reflect.DeepEqual(calls, c.want) || choice != c.choice {
			t.Errorf("%s: helper calls %v, choice by address %v; want %v, %v", c.space, calls, choice, c.want, c.choice)
		}
	}
}
