package session

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// TestTaskFSBaseOffset finds thread.fsbase in this kernel's task_struct,
// then checks the offset on a thread that took no part in finding it: a
// program reading current's task_struct there must give that thread's fs
// base, as arch_prctl reports it.
func TestTaskFSBaseOffset(t *testing.T) {
	requireBPF(t)
	off, err := TaskFSBaseOffset()
	if err != nil {
		t.Fatal(err)
	}
	if off <= 0 || off%8 != 0 {
		t.Fatalf("offset %d", off)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.RawTracepoint,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentTask.Call(),
			asm.Mov.Reg(asm.R7, asm.R0),
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.Mov.Imm(asm.R2, 8),
			asm.Mov.Reg(asm.R3, asm.R7),
			asm.Add.Imm(asm.R3, off),
			asm.FnProbeReadKernel.Call(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var fs uint64
		if _, _, e := unix.Syscall(unix.SYS_ARCH_PRCTL, archGetFS, uintptr(unsafe.Pointer(&fs)), 0); e != 0 {
			t.Errorf("arch_prctl: %v", e)
			return
		}
		if _, err := prog.Run(&ebpf.RunOptions{}); err != nil {
			t.Error(err)
			return
		}
		var got uint64
		if err := m.Lookup(uint32(0), &got); err != nil {
			t.Error(err)
			return
		}
		if got != fs || fs == 0 {
			t.Errorf("task_struct+%d holds %#x; this thread's fs base is %#x", off, got, fs)
		}
	}()
	<-done
}

// TestFSBaseOffsetRefuses: an offset is trusted only when it is the one
// place where each of two threads, whose fs bases differ, holds its own
// (a thread's may appear elsewhere too: this machine's 6.18 kernel
// showed one at 3128 and 8952, another at 3128 alone).
func TestFSBaseOffsetRefuses(t *testing.T) {
	task := func(vals map[int]uint64) []byte {
		b := make([]byte, 64)
		for off, v := range vals {
			binary.LittleEndian.PutUint64(b[off:], v)
		}
		return b
	}
	a := taskCopy{0x7f00, task(map[int]uint64{16: 0x7f00, 24: 0x7e00})}
	b := taskCopy{0x7e00, task(map[int]uint64{16: 0x7e00, 40: 0x7f00})}
	if off, err := fsBaseOffset(a, b); err != nil || off != 16 {
		t.Errorf("fsBaseOffset = %d, %v; want 16", off, err)
	}
	twice := taskCopy{0x7f00, task(map[int]uint64{16: 0x7f00, 48: 0x7f00})}
	if off, err := fsBaseOffset(twice, b); err != nil || off != 16 {
		t.Errorf("fsBaseOffset with one thread's fs base twice = %d, %v; want 16", off, err)
	}
	for _, tc := range []struct {
		a, b taskCopy
		want string
	}{
		{a, taskCopy{0x7e00, task(map[int]uint64{8: 0x7e00})}, "thread.fsbase not found at one offset of task_struct (this thread: [16], another: [8])"},
		{taskCopy{0x7f00, task(map[int]uint64{16: 0x7f00, 48: 0x7f00})}, taskCopy{0x7e00, task(map[int]uint64{16: 0x7e00, 48: 0x7e00})}, "thread.fsbase not found at one offset of task_struct (this thread: [16 48], another: [16 48])"},
		{a, taskCopy{0x7f00, a.task}, "two threads with fs bases 0x7f00 and 0x7f00 cannot tell the offset of thread.fsbase"},
		{taskCopy{0, a.task}, b, "two threads with fs bases 0x0 and 0x7e00 cannot tell the offset of thread.fsbase"},
	} {
		if _, err := fsBaseOffset(tc.a, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fsBaseOffset error %v, want %q", err, tc.want)
		}
	}
}
