package tracer

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/target"
)

// The kernel refuses a kprobe at an instruction it rewrites at run time or
// that reports a bug (check_kprobe_address_safe: jump_label_text_reserved,
// static_call_text_reserved, find_bug), with EINVAL, which cilium/ebpf's
// fallback then words as a misleading "token ... not found". A static
// call's site is a call instruction, and a tracepoint in a callee's code
// calls its probes through one: --follow at depth 2 meets them. The
// vmlinux's tables say where they are, each entry's address relative to
// the entry's own field (the kernel's relative pointers).

// reservedSites are the vmlinux's addresses kprobes refuse though an
// instruction starts there: each start address with its length and kind.
type reservedSites struct {
	ranges map[uint64]reservedRange // by start: [start, start+n)
	bugs   map[uint64]bool          // BUG()/WARN() sites (ud2)
}

type reservedRange struct {
	n    uint64
	kind string
}

// Table entry sizes on x86-64: struct jump_entry {s32 code, target; long
// key}, struct static_call_site {s32 addr, key}, struct bug_entry {s32
// bug_addr_disp, file_disp; u16 line, flags} (relative pointers, verbose).
const (
	jumpEntrySize   = 16
	staticCallSize  = 8
	bugEntrySize    = 12
	callInsnSize    = 5
	jumpLabelMaxLen = 5
)

var reservedCache sync.Map // *target.Kernel -> *reservedSites

// kernelReserved returns the reserved sites of the vmlinux k, read once;
// empty when its tables cannot be read (or for another binary).
func kernelReserved(kb kernelBinary) *reservedSites {
	k, ok := kb.(*target.Kernel)
	if !ok {
		return &reservedSites{}
	}
	if v, ok := reservedCache.Load(k); ok {
		return v.(*reservedSites)
	}
	rs, err := readReserved(k.ELF, k.Code)
	if err != nil {
		rs = &reservedSites{}
	}
	reservedCache.Store(k, rs)
	return rs
}

// readReserved reads the tables of f between their __start_/__stop_
// symbols; code reads the instructions at jump label sites (2 or 5
// bytes).
func readReserved(f *elf.File, code func(uint64, int) ([]byte, error)) (*reservedSites, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	at := map[string]uint64{}
	for _, s := range syms {
		switch s.Name {
		case "__start___jump_table", "__stop___jump_table", "__start_static_call_sites", "__stop_static_call_sites", "__start___bug_table", "__stop___bug_table":
			at[s.Name] = s.Value
		}
	}
	rs := &reservedSites{ranges: map[uint64]reservedRange{}, bugs: map[uint64]bool{}}
	table := func(name string, size int, each func(entry uint64, b []byte)) error {
		start, ok1 := at["__start_"+name]
		stop, ok2 := at["__stop_"+name]
		if !ok1 || !ok2 || stop < start {
			return nil // the kernel has none
		}
		b, err := readAt(f, start, stop-start)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		for i := 0; i+size <= len(b); i += size {
			each(start+uint64(i), b[i:i+size])
		}
		return nil
	}
	rel := func(field uint64, b []byte) uint64 {
		return uint64(int64(field) + int64(int32(binary.LittleEndian.Uint32(b))))
	}
	err = table("__jump_table", jumpEntrySize, func(e uint64, b []byte) {
		a := rel(e, b)
		n := uint64(jumpLabelMaxLen)
		if c, err := code(a, jumpLabelMaxLen); err == nil {
			if ins, err := insn.Decode(c, a); err == nil && len(ins) > 0 && ins[0].OK {
				n = uint64(ins[0].Inst.Len)
			}
		}
		rs.ranges[a] = reservedRange{n, "a jump label (static key) site"}
	})
	if err != nil {
		return nil, err
	}
	err = table("static_call_sites", staticCallSize, func(e uint64, b []byte) {
		rs.ranges[rel(e, b)] = reservedRange{callInsnSize, "a static call site"}
	})
	if err != nil {
		return nil, err
	}
	err = table("__bug_table", bugEntrySize, func(e uint64, b []byte) { rs.bugs[rel(e, b)] = true })
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// readAt reads n bytes at address va of f, from the section holding them.
func readAt(f *elf.File, va, n uint64) ([]byte, error) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || va < s.Addr || va+n > s.Addr+s.Size {
			continue
		}
		b := make([]byte, n)
		if _, err := s.ReadAt(b, int64(va-s.Addr)); err != nil && err != io.EOF {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("no section holds %#x-%#x", va, va+n)
}

// why says why a kprobe at va is refused, "" when it is not.
func (rs *reservedSites) why(va uint64) string {
	if rs.bugs[va] {
		return "a BUG()/WARN() site"
	}
	for back := uint64(0); back < jumpLabelMaxLen && back <= va; back++ {
		if r, ok := rs.ranges[va-back]; ok && back < r.n {
			return r.kind
		}
	}
	return ""
}
