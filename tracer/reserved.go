package tracer

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
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

// Code the kernel rewrites at boot (alternatives, paravirt patch sites)
// is not what the vmlinux holds: the instruction boundaries checked there,
// and the instruction a probe would emulate, are not the running ones'.
// The kernel does not refuse kprobes there, but whythefail does not probe
// them (stricter than the kernel, never looser): a kprobe on a call that
// an alternative replaced (kmem_cache_alloc's call of
// this_cpu_cmpxchg16b_emu, a cmpxchg16b at run time) was refused.

// reservedSites are the vmlinux's addresses no kprobe goes to though an
// instruction starts there: ranges with their kind, by start.
type reservedSites struct {
	ranges []reservedRange
	maxLen uint64
	bugs   map[uint64]bool // BUG()/WARN() sites (ud2)
}

type reservedRange struct {
	start, n uint64
	kind     string
}

// Table entry sizes on x86-64: struct jump_entry {s32 code, target; long
// key}, struct static_call_site {s32 addr, key}, struct bug_entry {s32
// bug_addr_disp, file_disp; u16 line, flags} (relative pointers, verbose).
// struct alt_instr {s32 instr_offset, repl_offset; u16 cpuid; u8
// instrlen, replacementlen} (packed), struct paravirt_patch_site {u8
// *instr; u8 type, len} (16 bytes aligned).
const (
	jumpEntrySize   = 16
	staticCallSize  = 8
	bugEntrySize    = 12
	altInstrSize    = 12
	paraSiteSize    = 16
	callInsnSize    = 5
	jumpLabelMaxLen = 5
)

var reservedCache sync.Map // *target.Kernel or *target.Module -> *reservedSites

// kernelReserved returns the reserved sites of the vmlinux k, read once;
// empty when its tables cannot be read (or for another binary).
func kernelReserved(kb kernelBinary) *reservedSites {
	if m, ok := kb.(*target.Module); ok {
		if v, ok := reservedCache.Load(m); ok {
			return v.(*reservedSites)
		}
		rs, err := moduleReserved(m)
		if err != nil {
			rs = &reservedSites{}
		}
		reservedCache.Store(m, rs)
		return rs
	}
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
		case "__start___jump_table", "__stop___jump_table", "__start_static_call_sites", "__stop_static_call_sites", "__start___bug_table", "__stop___bug_table",
			"__alt_instructions", "__alt_instructions_end", "__parainstructions", "__parainstructions_end":
			at[s.Name] = s.Value
		}
	}
	// The same bounds under the names of the other tables.
	at["__start___alt_instructions"], at["__stop___alt_instructions"] = at["__alt_instructions"], at["__alt_instructions_end"]
	at["__start___parainstructions"], at["__stop___parainstructions"] = at["__parainstructions"], at["__parainstructions_end"]
	rs := &reservedSites{bugs: map[uint64]bool{}}
	add := func(start, n uint64, kind string) {
		rs.ranges = append(rs.ranges, reservedRange{start, n, kind})
		rs.maxLen = max(rs.maxLen, n)
	}
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
		add(a, n, "a jump label (static key) site")
	})
	if err != nil {
		return nil, err
	}
	err = table("static_call_sites", staticCallSize, func(e uint64, b []byte) {
		add(rel(e, b), callInsnSize, "a static call site")
	})
	if err != nil {
		return nil, err
	}
	err = table("__bug_table", bugEntrySize, func(e uint64, b []byte) { rs.bugs[rel(e, b)] = true })
	if err != nil {
		return nil, err
	}
	err = table("__alt_instructions", altInstrSize, func(e uint64, b []byte) {
		add(rel(e, b), uint64(b[10]), "an alternative instruction site (rewritten at boot)")
	})
	if err != nil {
		return nil, err
	}
	err = table("__parainstructions", paraSiteSize, func(e uint64, b []byte) {
		add(binary.LittleEndian.Uint64(b), uint64(b[9]), "a paravirt patch site (rewritten at boot)")
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(rs.ranges, func(i, j int) bool { return rs.ranges[i].start < rs.ranges[j].start })
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
	// The ranges starting at va or before it, back as far as the
	// longest one reaches.
	i := sort.Search(len(rs.ranges), func(i int) bool { return rs.ranges[i].start > va })
	for i--; i >= 0 && rs.ranges[i].start+rs.maxLen > va; i-- {
		if r := rs.ranges[i]; va < r.start+r.n {
			return r.kind
		}
	}
	return ""
}

// moduleReserved reads a module's tables as readReserved does the
// vmlinux's: in the .ko each entry's relative pointer is a relocation
// (the kernel resolves it at load), whose symbol plus addend is the
// site's layout address.
func moduleReserved(m *target.Module) (*reservedSites, error) {
	rs := &reservedSites{bugs: map[uint64]bool{}}
	add := func(start, n uint64, kind string) {
		rs.ranges = append(rs.ranges, reservedRange{start, n, kind})
		rs.maxLen = max(rs.maxLen, n)
	}
	// each calls f for the relocations at the start of each entry of
	// size bytes of section name, with the entry's bytes.
	each := func(name string, size uint64, f func(r target.Reloc, entry []byte)) error {
		data, rels, err := m.SectionRelocs(name)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		for _, r := range rels {
			if r.Off%size == 0 && r.Off+size <= uint64(len(data)) {
				f(r, data[r.Off:r.Off+size])
			}
		}
		return nil
	}
	err := each("__jump_table", jumpEntrySize, func(r target.Reloc, _ []byte) {
		n := uint64(jumpLabelMaxLen)
		if c, err := m.Code(r.Value, jumpLabelMaxLen); err == nil {
			if ins, err := insn.Decode(c, r.Value); err == nil && len(ins) > 0 && ins[0].OK {
				n = uint64(ins[0].Inst.Len)
			}
		}
		add(r.Value, n, "a jump label (static key) site")
	})
	if err == nil {
		err = each(".static_call_sites", staticCallSize, func(r target.Reloc, _ []byte) { add(r.Value, callInsnSize, "a static call site") })
	}
	if err == nil {
		err = each("__bug_table", bugEntrySize, func(r target.Reloc, _ []byte) { rs.bugs[r.Value] = true })
	}
	if err == nil {
		err = each(".altinstructions", altInstrSize, func(r target.Reloc, e []byte) {
			add(r.Value, uint64(e[10]), "an alternative instruction site (rewritten when the module loads)")
		})
	}
	if err == nil {
		err = each(".parainstructions", paraSiteSize, func(r target.Reloc, e []byte) {
			add(r.Value, uint64(e[9]), "a paravirt patch site (rewritten when the module loads)")
		})
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(rs.ranges, func(i, j int) bool { return rs.ranges[i].start < rs.ranges[j].start })
	return rs, nil
}
