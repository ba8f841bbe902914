package bpfgen

import (
	"debug/elf"
	"os"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/whythefail/whythefail/internal/fixture"
)

//go:noinline
func orderProbed(x int) int { return x*3 + 1 }

// orderProgram appends its id (the attach cookie when id is negative) to
// the log in m: slot 0 counts the entries, slots 1... hold them.
func orderProgram(t *testing.T, m *ebpf.Map, id int32, multi bool) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if id < 0 {
		insns = append(insns, asm.FnGetAttachCookie.Call(), asm.Mov.Reg(asm.R7, asm.R0))
	} else {
		insns = append(insns, asm.Mov.Imm(asm.R7, id))
	}
	insns = append(insns,
		// n = log[0]
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R8, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R8, 1),
		asm.StoreMem(asm.R0, 0, asm.R8, asm.DWord),
		// log[n+1] = id
		asm.StoreMem(asm.RFP, -4, asm.R8, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.StoreMem(asm.R0, 0, asm.R7, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	spec := &ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL", Instructions: insns}
	if multi {
		spec.AttachType = ebpf.AttachTraceUprobeMulti
	}
	p, err := ebpf.NewProgram(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestUprobeOrderAtOneAddress measures the order in which this kernel runs
// several uprobe consumers at one address: the reverse of their
// registration, for single uprobes (each attached after the other) and for
// the offsets of one uprobe_multi link alike (kernel/events/uprobes.c's
// consumer_add puts a new consumer at the head of the uprobe's list, and a
// uprobe_multi link registers its offsets in order). The order of probes
// at one address is therefore never left to the kernel: stmtGroups gives
// every set of statements at one address one program, which records them
// in the order the report needs. This test catches a kernel that changes
// the order (the grouping does not depend on it).
func TestUprobeOrderAtOneAddress(t *testing.T) {
	requireBPF(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := link.OpenExecutable(exe)
	if err != nil {
		t.Fatal(err)
	}
	off := fileOffset(t, exe, uint64(reflect.ValueOf(orderProbed).Pointer()))
	run := func(attach func(m *ebpf.Map) []link.Link) []uint64 {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		links := attach(m)
		orderProbed(len(links))
		for _, l := range links {
			l.Close()
		}
		var n uint64
		if err := m.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		log := make([]uint64, n)
		for i := range log {
			if err := m.Lookup(uint32(i+1), &log[i]); err != nil {
				t.Fatal(err)
			}
		}
		return log
	}
	single := run(func(m *ebpf.Map) []link.Link {
		var ls []link.Link
		for _, id := range []int32{1, 2, 3} {
			l, err := ex.Uprobe("", orderProgram(t, m, id, false), &link.UprobeOptions{Address: off})
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		return ls
	})
	if want := []uint64{3, 2, 1}; !reflect.DeepEqual(single, want) {
		t.Errorf("single uprobes attached 1, 2, 3 at one address ran %v, want %v", single, want)
	}
	if err := features.HaveBPFLinkUprobeMulti(); err != nil {
		fixture.Missing(t, "no uprobe_multi links: %v", err)
	}
	multi := run(func(m *ebpf.Map) []link.Link {
		// One link, the same address three times with cookies 1, 2, 3
		// (a Spec.Multi chunk with several statements at one offset).
		l, err := ex.UprobeMulti(nil, orderProgram(t, m, -1, true), &link.UprobeMultiOptions{Addresses: []uint64{off, off, off}, Cookies: []uint64{1, 2, 3}})
		if err != nil {
			t.Fatal(err)
		}
		// Then two links of one address each.
		var ls = []link.Link{l}
		for _, c := range []uint64{4, 5} {
			l, err := ex.UprobeMulti(nil, orderProgram(t, m, -1, true), &link.UprobeMultiOptions{Addresses: []uint64{off}, Cookies: []uint64{c}})
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		return ls
	})
	if want := []uint64{5, 4, 3, 2, 1}; !reflect.DeepEqual(multi, want) {
		t.Errorf("uprobe_multi offsets 1, 2, 3 of one link, then links 4 and 5, at one address ran %v, want %v", multi, want)
	}
}

// fileOffset is the offset in the executable exe (not position
// independent: Go's default) of the code at the run-time address addr.
func fileOffset(t *testing.T, exe string, addr uint64) uint64 {
	t.Helper()
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off
		}
	}
	t.Fatalf("%#x is in no executable segment of %s", addr, exe)
	return 0
}
