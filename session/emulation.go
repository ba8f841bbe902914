package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/whythefail/whythefail/insn"
)

// Emulation is which instruction classes the running kernel emulates at a
// uprobe, as measured by ProbeEmulation.
type Emulation map[insn.Class]bool

var emulation struct {
	once sync.Once
	e    Emulation
	err  error
}

// ProbeEmulation measures which instruction classes the running kernel
// emulates at a uprobe instead of single-stepping them out of line. It
// writes a tiny static executable holding one instruction of each class
// (and a mov, which every kernel single-steps, as the control), attaches a
// uprobe that counts hits at each, runs it once per class, and looks at
// the process's mappings while it waits: the kernel maps the "[uprobes]"
// area (the out-of-line slots) the first time it single-steps a probed
// instruction in a process, and never for an emulated one. A class whose
// probe did not hit exactly once, or a control that was not single-stepped,
// makes the whole measurement an error: the caller falls back to rules.
// The answer is measured once per process.
func ProbeEmulation() (Emulation, error) {
	emulation.once.Do(func() { emulation.e, emulation.err = probeEmulation() })
	return emulation.e, emulation.err
}

// control is the single-stepped instruction the measurement checks itself
// with: mov rax, rax.
var control = []byte{0x48, 0x89, 0xc0}

const (
	emuBase  = 0x400000
	emuEntry = 0x80 // file offset of the dispatcher
	emuSlots = 0xc0 // file offset of slot 0; slot k is 16 bytes further per k
)

// emulationELF builds the executable: the dispatcher jumps to slot argc;
// slot k holds sample k (slot 1 the control) and jumps to code that waits
// in pause(2) until killed.
func emulationELF(samples [][]byte) ([]byte, []uint64) {
	code := make([]byte, emuSlots+16*(len(samples)+1)+16)
	for i := range code {
		code[i] = 0xcc
	}
	// mov rax,[rsp]; shl rax,4; lea rdx,[rip+slots]; add rax,rdx; jmp rax
	d := []byte{0x48, 0x8b, 0x04, 0x24, 0x48, 0xc1, 0xe0, 0x04, 0x48, 0x8d, 0x15, 0, 0, 0, 0, 0x48, 0x01, 0xd0, 0xff, 0xe0}
	binary.LittleEndian.PutUint32(d[11:], uint32(emuSlots-(emuEntry+15)))
	copy(code[emuEntry:], d)
	pause := emuSlots + 16*(len(samples)+1)
	// mov eax,34 (pause); syscall; mov eax,60 (exit); xor edi,edi; syscall
	copy(code[pause:], []byte{0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05})
	var offs []uint64
	for k, s := range samples {
		at := emuSlots + 16*(k+1)
		copy(code[at:], s)
		j := at + len(s)
		code[j] = 0xe9
		binary.LittleEndian.PutUint32(code[j+1:], uint32(int32(pause-(j+5))))
		offs = append(offs, uint64(at))
	}
	var h bytes.Buffer
	w := func(v any) { binary.Write(&h, binary.LittleEndian, v) }
	h.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))                     // ET_EXEC
	w(uint16(62))                    // EM_X86_64
	w(uint32(1))                     // version
	w(uint64(emuBase + emuEntry))    // entry
	w(uint64(64))                    // phoff
	w(uint64(0))                     // shoff
	w(uint32(0))                     // flags
	w([]uint16{64, 56, 1, 64, 0, 0}) // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
	w(uint32(1))                     // PT_LOAD
	w(uint32(5))                     // R|X
	w(uint64(0))                     // offset
	w(uint64(emuBase))               // vaddr
	w(uint64(emuBase))               // paddr
	w(uint64(len(code)))             // filesz
	w(uint64(len(code)))             // memsz
	w(uint64(0x1000))                // align
	copy(code, h.Bytes())
	return code, offs
}

func probeEmulation() (Emulation, error) {
	if err := features.HaveBPFLinkUprobeMulti(); err != nil {
		return nil, fmt.Errorf("measuring needs uprobe_multi links: %w", err)
	}
	samples := [][]byte{control}
	for _, c := range insn.Classes {
		samples = append(samples, insn.Sample(c))
	}
	img, offs := emulationELF(samples)
	f, err := os.CreateTemp("", "whythefail-emulation-*")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = f.Write(img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, 0o700)
	}
	if err != nil {
		return nil, err
	}
	hits, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(len(samples))})
	if err != nil {
		return nil, err
	}
	defer hits.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "wtf_emulation", Type: ebpf.Kprobe, AttachType: ebpf.AttachTraceUprobeMulti, License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetAttachCookie.Call(),
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, hits.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, err
	}
	cookies := make([]uint64, len(offs))
	for i := range cookies {
		cookies[i] = uint64(i)
	}
	l, err := ex.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: offs, Cookies: cookies})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	stepped := make([]bool, len(samples))
	for k := range samples {
		if stepped[k], err = runSample(path, k+1); err != nil {
			return nil, err
		}
	}
	for k := range samples {
		var n uint64
		if err := hits.Lookup(uint32(k), &n); err != nil {
			return nil, err
		}
		if n != 1 {
			return nil, fmt.Errorf("the probe on sample %d hit %d times, not once", k, n)
		}
	}
	if !stepped[0] {
		return nil, errors.New("the control instruction (mov) was not single-stepped: the [uprobes] mapping does not tell")
	}
	e := Emulation{}
	for i, c := range insn.Classes {
		e[c] = !stepped[i+1]
	}
	return e, nil
}

// runSample runs the executable with argc k, waits until it sits in
// pause(2), and reports whether its mappings include the kernel's
// single-step area.
func runSample(path string, k int) (bool, error) {
	cmd := exec.Command(path, make([]string, k-1)...)
	cmd.Args[0] = path
	if err := cmd.Start(); err != nil {
		return false, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		sc, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if err != nil {
			return false, err
		}
		if !strings.HasPrefix(string(sc), "34 ") {
			continue
		}
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		if err != nil {
			return false, err
		}
		return strings.Contains(string(maps), "[uprobes]"), nil
	}
	return false, fmt.Errorf("the sample %d never reached pause(2)", k)
}
