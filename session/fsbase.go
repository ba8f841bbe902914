package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// errno() needs each thread's thread pointer (x86-64's fs base), which
// pt_regs lacks: the kernel keeps it in task_struct's thread.fsbase, at an
// offset that depends on the kernel's build. Without BTF the offset is
// found by looking: a raw tracepoint program run with BPF_PROG_TEST_RUN (in
// the calling thread) copies the current task_struct, and the offset is
// where this thread's own fs base (arch_prctl(ARCH_GET_FS)) appears, alone,
// and where a second thread's fs base appears in its copy too.

// taskScan is how much of task_struct is copied, in chunks of taskChunk
// bytes: thread_struct comes last in task_struct, and fsbase early in it.
const (
	taskChunk = 512
	taskScan  = 32 * taskChunk
)

// archGetFS is ARCH_GET_FS for arch_prctl.
const archGetFS = 0x1003

var fsBaseOnce struct {
	sync.Once
	off int32
	err error
}

// TaskFSBaseOffset returns the offset of thread.fsbase in the running
// kernel's task_struct, found once per process.
func TaskFSBaseOffset() (int32, error) {
	fsBaseOnce.Do(func() {
		fsBaseOnce.off, fsBaseOnce.err = findFSBaseOffset()
	})
	return fsBaseOnce.off, fsBaseOnce.err
}

// taskCopyProgram copies taskScan bytes of the current task_struct into
// the first value of m; chunks that cannot be read are left zero.
func taskCopyProgram(m *ebpf.Map) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	for off := int32(0); off < taskScan; off += taskChunk {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, off),
			asm.Mov.Imm(asm.R2, taskChunk),
			asm.Mov.Reg(asm.R3, asm.R7),
			asm.Add.Imm(asm.R3, off),
			asm.FnProbeReadKernel.Call())
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wtf_taskcopy",
		Type:         ebpf.RawTracepoint,
		License:      "GPL",
		Instructions: insns,
	})
}

// taskCopy is one thread's fs base and the copy of its task_struct.
type taskCopy struct {
	fsbase uint64
	task   []byte
}

// copyTask runs prog on the calling goroutine's locked thread. The thread
// stays locked until release is closed, so that a second call meanwhile
// runs on another thread.
func copyTask(prog *ebpf.Program, m *ebpf.Map, out chan<- taskCopy, errs chan<- error, release <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var fs uint64
	if _, _, e := unix.Syscall(unix.SYS_ARCH_PRCTL, archGetFS, uintptr(unsafe.Pointer(&fs)), 0); e != 0 {
		errs <- fmt.Errorf("arch_prctl(ARCH_GET_FS): %w", e)
		return
	}
	if _, err := prog.Run(&ebpf.RunOptions{}); err != nil {
		errs <- fmt.Errorf("running the task_struct copier: %w", err)
		return
	}
	buf, err := m.LookupBytes(uint32(0))
	if err != nil {
		errs <- fmt.Errorf("reading the task_struct copy: %w", err)
		return
	}
	out <- taskCopy{fs, buf}
	<-release
}

func findFSBaseOffset() (int32, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "wtf_task", Type: ebpf.Array, KeySize: 4, ValueSize: taskScan, MaxEntries: 1})
	if err != nil {
		return 0, fmt.Errorf("creating the task_struct copy map: %w", err)
	}
	defer m.Close()
	prog, err := taskCopyProgram(m)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return 0, fmt.Errorf("loading the task_struct copier (verifier log: %+v): %w", ve, err)
		}
		return 0, fmt.Errorf("loading the task_struct copier: %w", err)
	}
	defer prog.Close()
	release := make(chan struct{})
	defer close(release)
	out, errs := make(chan taskCopy, 2), make(chan error, 2)
	var copies []taskCopy
	for range 2 {
		go copyTask(prog, m, out, errs, release)
		select {
		case c := <-out:
			copies = append(copies, c)
		case err := <-errs:
			return 0, err
		}
	}
	return fsBaseOffset(copies[0], copies[1])
}

// fsBaseOffset finds the one 8-aligned offset where each copy holds its own
// thread's fs base (a thread's may also appear elsewhere in its task, a
// copy of it saved for something else: only one offset holds it in both),
// or says why there is none.
func fsBaseOffset(a, b taskCopy) (int32, error) {
	if a.fsbase == 0 || a.fsbase == b.fsbase {
		return 0, fmt.Errorf("two threads with fs bases %#x and %#x cannot tell the offset of thread.fsbase", a.fsbase, b.fsbase)
	}
	find := func(c taskCopy) []int {
		var offs []int
		for off := 0; off+8 <= len(c.task); off += 8 {
			if binary.LittleEndian.Uint64(c.task[off:]) == c.fsbase {
				offs = append(offs, off)
			}
		}
		return offs
	}
	oa, ob := find(a), find(b)
	var both []int
	for _, o := range oa {
		if slices.Contains(ob, o) {
			both = append(both, o)
		}
	}
	if len(both) != 1 {
		return 0, fmt.Errorf("thread.fsbase not found at one offset of task_struct (this thread: %v, another: %v)", oa, ob)
	}
	return int32(both[0]), nil
}
