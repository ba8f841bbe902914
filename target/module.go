package target

import (
	"bytes"
	"context"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// Module is a loadable kernel module as a target: its .ko with DWARF, an
// ET_REL object. Its sections have no addresses of their own, so Open
// lays the allocated ones out one after the other from moduleBase, in
// section order and each at its alignment, as libdwfl does for stap; the
// DWARF (relocated against that layout), the symbols, Code and KprobeSite
// all use those addresses.
type Module struct {
	// ModName is the module's name as the probe point gives it.
	ModName string
	// Path is the .ko that carries the DWARF.
	Path    string
	ELF     *elf.File
	BuildID []byte
	// Release is the kernel release whose module this is; Running says
	// it is the running kernel's.
	Release string
	Running bool
	// LoadedBuildID is the build-id of the module loaded in the running
	// kernel (/sys/module/NAME/notes), nil when it is not loaded.
	LoadedBuildID []byte

	osFile *os.File
	sysDir string   // KernelOptions.SysDir, for the loaded module's sections
	addrs  []uint64 // layout address of each section (index), 0 when not allocated
	secs   *dwarfsec.Sections
	// debugFrame is the relocated .debug_frame, for CFA.
	debugFrame []byte

	symOnce sync.Once
	syms    []Symbol
	symtab  []elf.Symbol

	frameOnce sync.Once
	fdes      frame.FrameDescriptionEntries
	frameErr  error

	branchOnce sync.Once
	branches   map[uint64]branchRel
}

// branchRel is what a rel32 field in the module's code is relocated
// against (BranchTarget).
type branchRel struct {
	name string
	va   uint64 // the target's layout address; 0 for the kernel's
}

var _ Binary = (*Module)(nil)

// moduleBase is the address the first allocated section of a module is
// laid out at (libdwfl's offline base, past a red zone).
const moduleBase = 0x10000

// canonModName spells a module name as the kernel does: '-' and '_' are
// the same in module names, and /sys/module uses '_'.
func canonModName(name string) string { return strings.ReplaceAll(name, "-", "_") }

// OpenModule finds and opens the .ko with DWARF of module name for the
// kernel release opts names: NAME.ko (with '-' and '_' alike) anywhere
// under DEBUGDIR/lib/modules/REL (Debian's linux-image-*-dbg layout), then
// under /lib/modules/REL when that copy kept its DWARF, and, for a module
// loaded in the running kernel, by its build-id
// (/sys/module/NAME/notes/.note.gnu.build-id) under the debug dirs and
// from debuginfod. A .ko whose build-id differs from the loaded module's
// is still opened (listing works) and CheckTracing refuses it.
func OpenModule(ctx context.Context, name string, opts KernelOptions) (*Module, error) {
	if name == "" || strings.ContainsAny(name, "/*?[]\\\x00") {
		return nil, fmt.Errorf("bad module name %q: give one module's name, as lsmod prints it", name)
	}
	rel, running, err := opts.release()
	if err != nil {
		return nil, err
	}
	var loaded []byte
	if running {
		loaded = notesBuildID(filepath.Join(opts.sysDir(), "module", canonModName(name), "notes/.note.gnu.build-id"))
	}
	var tried []string
	var other *Module
	var firstErr error
	try := func(p string) *Module {
		m, err := openModuleFile(p, name)
		if err != nil {
			if firstErr == nil && !errors.Is(err, ErrNoDebugInfo) {
				firstErr = err
			}
			return nil
		}
		m.Release, m.Running, m.LoadedBuildID, m.sysDir = rel, running, loaded, opts.sysDir()
		if loaded != nil && !bytes.Equal(m.BuildID, loaded) {
			if other == nil {
				other = m
			} else {
				m.Close()
			}
			return nil
		}
		return m
	}
	var dirs []string
	for _, d := range opts.debugDirs() {
		dirs = append(dirs, filepath.Join(d, "lib/modules", rel))
	}
	dirs = append(dirs, filepath.Join(opts.modulesDir(), rel))
	for _, d := range dirs {
		tried = append(tried, d+"/**/"+name+".ko")
		for _, p := range findKO(d, name) {
			if m := try(p); m != nil {
				closeOther(other)
				return m, nil
			}
		}
	}
	if loaded != nil {
		for _, d := range opts.debugDirs() {
			p := buildIDPath(d, loaded)
			tried = append(tried, p)
			if _, err := os.Stat(p); err == nil {
				if m := try(p); m != nil {
					closeOther(other)
					return m, nil
				}
			}
		}
		if opts.Debuginfod != nil {
			if p, err := opts.Debuginfod.Debuginfo(ctx, loaded); err == nil {
				if m := try(p); m != nil {
					closeOther(other)
					return m, nil
				}
			}
		}
	}
	if other != nil {
		return other, nil
	}
	if firstErr != nil {
		return nil, firstErr
	}
	id := ""
	if loaded != nil {
		id = fmt.Sprintf(", build-id %x", loaded)
	}
	return nil, fmt.Errorf("%w for module %s of kernel %s%s: no %s.ko with DWARF at %s; install linux-image-%s-dbg (Debian; kernel-debuginfo elsewhere) or, for a loaded module, set DEBUGINFOD_URLS",
		ErrNoDebugInfo, name, rel, id, name, strings.Join(tried, ", "), rel)
}

func closeOther(m *Module) {
	if m != nil {
		m.Close()
	}
}

// findKO returns the files NAME.ko under dir, '-' and '_' alike, sorted.
func findKO(dir, name string) []string {
	want := canonModName(name) + ".ko"
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && canonModName(d.Name()) == want {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// openModuleFile opens the .ko at path, lays its sections out and
// relocates its DWARF. A .ko without DWARF is an error wrapping
// ErrNoDebugInfo.
func openModuleFile(path, name string) (*Module, error) {
	osf, ef, _, err := openELF(path)
	if err != nil {
		return nil, err
	}
	m := &Module{ModName: name, Path: path, ELF: ef, osFile: osf}
	if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 || ef.Data != elf.ELFDATA2LSB {
		m.Close()
		return nil, fmt.Errorf("%s: %w %s (%s): only x86-64 modules are supported", path, ErrUnsupportedArch, ef.Machine, ef.Class)
	}
	if ef.Type != elf.ET_REL {
		m.Close()
		return nil, fmt.Errorf("%s: not a kernel module (ELF type %s, want a relocatable object)", path, ef.Type)
	}
	if s := ef.Section(".debug_info"); s == nil || s.Type == elf.SHT_NOBITS {
		m.Close()
		return nil, fmt.Errorf("%w in %s", ErrNoDebugInfo, path)
	}
	m.BuildID = buildID(ef)
	m.layout()
	secs, err := m.relocatedDWARF()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w: %v", path, ErrBadDebugInfo, err)
	}
	m.secs = secs
	return m, nil
}

// layout gives every allocated section its address, as the Module comment
// says.
func (m *Module) layout() {
	m.addrs = make([]uint64, len(m.ELF.Sections))
	next := uint64(moduleBase)
	for i, s := range m.ELF.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		align := max(s.Addralign, 1)
		next = (next + align - 1) &^ (align - 1)
		m.addrs[i] = next
		next += s.Size
	}
}

// moduleDWARF are the sections a module's DWARF is read from.
var moduleDWARF = []string{".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_line_str",
	".debug_rnglists", ".debug_ranges", ".debug_addr", ".debug_str_offsets", ".debug_loc", ".debug_loclists", ".debug_frame"}

// relocatedDWARF reads the DWARF sections and applies their relocations
// (.rela.debug_*) against the layout.
func (m *Module) relocatedDWARF() (*dwarfsec.Sections, error) {
	ef := m.ELF
	syms, err := ef.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("reading the symbol table: %v", err)
	}
	data := make(map[string][]byte)
	index := make(map[int]string)
	for i, s := range ef.Sections {
		for _, n := range moduleDWARF {
			if s.Name == n && s.Type != elf.SHT_NOBITS {
				b, err := safeSectionData(s)
				if err != nil {
					return nil, err
				}
				data[n] = b
				index[i] = n
			}
		}
	}
	for _, rs := range ef.Sections {
		if rs.Type != elf.SHT_RELA {
			continue
		}
		name, ok := index[int(rs.Info)]
		if !ok {
			continue
		}
		rb, err := safeSectionData(rs)
		if err != nil {
			return nil, err
		}
		if err := m.relocate(data[name], name, rb, syms); err != nil {
			return nil, err
		}
	}
	m.debugFrame = data[".debug_frame"]
	delete(data, ".debug_frame")
	return dwarfsec.FromBytes(binary.LittleEndian, data), nil
}

// relocate applies the Elf64_Rela entries rela to sec (named name). A
// symbol's value is its section's layout address plus its own value for
// allocated sections (code, data), its value alone for the others (the
// debug sections, whose symbols are offsets into them), and 0 for an
// undefined one (the kernel's, known only at load time).
func (m *Module) relocate(sec []byte, name string, rela []byte, syms []elf.Symbol) error {
	le := binary.LittleEndian
	if len(rela)%24 != 0 {
		return fmt.Errorf("relocations of %s: %d bytes is not a whole number of entries", name, len(rela))
	}
	for off := 0; off < len(rela); off += 24 {
		at := le.Uint64(rela[off:])
		info := le.Uint64(rela[off+8:])
		addend := int64(le.Uint64(rela[off+16:]))
		typ, si := elf.R_X86_64(info&0xffffffff), info>>32
		var s uint64
		if si != 0 {
			if si > uint64(len(syms)) {
				return fmt.Errorf("relocation of %s at %#x: symbol %d out of range", name, at, si)
			}
			sym := syms[si-1]
			switch {
			case sym.Section == elf.SHN_UNDEF:
				s = 0
			case sym.Section == elf.SHN_ABS:
				s = sym.Value
			case int(sym.Section) < len(m.addrs):
				s = m.addrs[sym.Section] + sym.Value
			default:
				return fmt.Errorf("relocation of %s at %#x: symbol %s in section %d out of range", name, at, sym.Name, sym.Section)
			}
		}
		v := s + uint64(addend)
		var size uint64
		switch typ {
		case elf.R_X86_64_NONE:
			continue
		case elf.R_X86_64_64:
			size = 8
		case elf.R_X86_64_32, elf.R_X86_64_32S:
			size = 4
		default:
			return fmt.Errorf("relocation of %s at %#x: unsupported type %s", name, at, typ)
		}
		if at > uint64(len(sec)) || uint64(len(sec))-at < size {
			return fmt.Errorf("relocation of %s at %#x: past the end of the section", name, at)
		}
		if size == 8 {
			le.PutUint64(sec[at:], v)
		} else {
			le.PutUint32(sec[at:], uint32(v))
		}
	}
	return nil
}

// Kind reports KindModule.
func (m *Module) Kind() Kind { return KindModule }

// Name returns the module's name.
func (m *Module) Name() string { return m.ModName }

// ProbePoint returns module("NAME").
func (m *Module) ProbePoint() string { return `module("` + m.ModName + `")` }

// AddressSpace reports KernelSpace.
func (m *Module) AddressSpace() AddressSpace { return KernelSpace }

// Attach reports the kprobe attach kind.
func (m *Module) Attach() AttachKind { return AttachKprobe }

// codeSection returns the index of the executable section holding va in
// the layout.
func (m *Module) codeSection(va uint64) (int, error) {
	for i, s := range m.ELF.Sections {
		if s.Flags&elf.SHF_EXECINSTR == 0 || s.Flags&elf.SHF_ALLOC == 0 || s.Type != elf.SHT_PROGBITS {
			continue
		}
		if va >= m.addrs[i] && va-m.addrs[i] < s.Size {
			return i, nil
		}
	}
	return 0, fmt.Errorf("module %s: %#x: %w", m.ModName, va, ErrNotCode)
}

// FileOffset returns va itself, the address in the module's layout:
// module probes are placed at symbol+offset (KprobeSite), never at a file
// offset. It fails for an address outside the executable sections.
func (m *Module) FileOffset(va uint64) (uint64, error) {
	if _, err := m.codeSection(va); err != nil {
		return 0, err
	}
	return va, nil
}

// Code reads n bytes of machine code at va from the section holding it
// (unrelocated: call and data displacements read as zero, which leaves
// the instruction boundaries as they are).
func (m *Module) Code(va uint64, n int) ([]byte, error) {
	i, err := m.codeSection(va)
	if err != nil {
		return nil, err
	}
	s := m.ELF.Sections[i]
	if n < 0 || uint64(n) > s.Size-(va-m.addrs[i]) {
		return nil, fmt.Errorf("module %s: reading %d bytes at %#x: %w", m.ModName, n, va, ErrNotCode)
	}
	if m.osFile == nil {
		return nil, fmt.Errorf("module %s: reading code: %w", m.ModName, os.ErrClosed)
	}
	buf := make([]byte, n)
	if _, err := m.osFile.ReadAt(buf, int64(s.Offset+va-m.addrs[i])); err != nil {
		return nil, fmt.Errorf("module %s: reading %d bytes at %#x: %w", m.ModName, n, va, err)
	}
	return buf, nil
}

// loadSymbols reads .symtab once, with values moved to the layout.
func (m *Module) loadSymbols() {
	m.symOnce.Do(func() {
		for _, s := range safeSymbols(m.ELF.Symbols) {
			if s.Section != elf.SHN_UNDEF && int(s.Section) < len(m.addrs) && elf.ST_TYPE(s.Info) != elf.STT_SECTION {
				s.Value += m.addrs[s.Section]
			}
			m.symtab = append(m.symtab, s)
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || s.Name == "" {
				continue
			}
			m.syms = append(m.syms, Symbol{Name: s.Name, Value: s.Value, Size: s.Size})
		}
		sort.SliceStable(m.syms, func(i, j int) bool {
			a, b := m.syms[i], m.syms[j]
			if a.Value != b.Value {
				return a.Value < b.Value
			}
			return a.Name < b.Name
		})
	})
}

// Symbols returns the defined function symbols of .symtab at their layout
// addresses, sorted by address then name.
func (m *Module) Symbols() []Symbol {
	m.loadSymbols()
	return append([]Symbol(nil), m.syms...)
}

// SymbolTable returns .symtab as the file has it, the values of symbols
// in allocated sections moved to the layout.
func (m *Module) SymbolTable() []elf.Symbol {
	m.loadSymbols()
	return append([]elf.Symbol(nil), m.symtab...)
}

// KprobeSite returns the function symbol containing va and va's offset
// inside it, as Kernel.KprobeSite does.
func (m *Module) KprobeSite(va uint64) (string, uint64, error) {
	return kprobeSite(m.Symbols(), va, "module "+m.ModName)
}

// DWARFSections returns the relocated DWARF sections.
func (m *Module) DWARFSections() *dwarfsec.Sections { return m.secs }

// NeedDWARF returns nil: OpenModule opens only a .ko with DWARF.
func (m *Module) NeedDWARF() error { return nil }

// DebugInfo returns the relocated DWARF.
func (m *Module) DebugInfo() (*dwarf.Data, error) {
	dw, err := m.secs.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", m.Path, ErrBadDebugInfo, err)
	}
	return dw, nil
}

// CFA returns the rule for the canonical frame address at va from the
// relocated .debug_frame, as File.CFA does.
func (m *Module) CFA(pc uint64) (reg uint64, off int64, err error) {
	m.frameOnce.Do(func() {
		if m.debugFrame == nil {
			m.frameErr = fmt.Errorf("%s: no .debug_frame", m.Path)
			return
		}
		m.fdes, m.frameErr = parseFrameData(m.debugFrame, ".debug_frame", 0)
		sort.SliceStable(m.fdes, func(i, j int) bool { return m.fdes[i].Begin() < m.fdes[j].Begin() })
	})
	if m.frameErr != nil {
		return 0, 0, m.frameErr
	}
	return cfaFrom(m.fdes, pc, m.Path)
}

// LoadedAddr returns where the running kernel put the module's byte at
// the layout address va (a global or static variable's DW_OP_addr): the
// kernel places each allocated section of a module on its own, so va is
// found in its section, whose loaded address /sys/module/NAME/sections/
// gives (readable by root only, and 0 when kptr_restrict hides it). It
// fails for a module not loaded in the running kernel, or one whose
// build-id is not the loaded module's (CheckTracing).
func (m *Module) LoadedAddr(va uint64) (uint64, error) {
	if err := m.CheckTracing(); err != nil {
		return 0, err
	}
	sec := -1
	for i, s := range m.ELF.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 && va >= m.addrs[i] && va-m.addrs[i] < s.Size {
			sec = i
			break
		}
	}
	if sec < 0 {
		return 0, fmt.Errorf("module %s: %#x is in none of its sections", m.ModName, va)
	}
	name := m.ELF.Sections[sec].Name
	path := filepath.Join(m.sysDir, "module", canonModName(m.ModName), "sections", name)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("module %s: where the kernel loaded its section %s: %w", m.ModName, name, err)
	}
	text := strings.TrimSpace(string(b))
	base, err := strconv.ParseUint(strings.TrimPrefix(text, "0x"), 16, 64)
	if err != nil || !strings.HasPrefix(text, "0x") {
		return 0, fmt.Errorf("module %s: %s holds %q, not an address", m.ModName, path, text)
	}
	if base == 0 {
		return 0, fmt.Errorf("module %s: %s reads 0: the kernel hides module addresses (kptr_restrict, or not root)", m.ModName, path)
	}
	return base + (va - m.addrs[sec]), nil
}

// CheckTracing returns nil when the module can be traced: its kernel is
// the running one, the module is loaded, and its build-id is the loaded
// module's. Otherwise a one-line error says why (both build-ids named).
func (m *Module) CheckTracing() error {
	switch {
	case !m.Running:
		return fmt.Errorf("module %s is of kernel %s, not the running kernel: -r lists its probe points but cannot trace it", m.ModName, m.Release)
	case m.LoadedBuildID == nil:
		return fmt.Errorf("module %s is not loaded (no /sys/module/%s): load it first (modprobe %s)", m.ModName, canonModName(m.ModName), m.ModName)
	case !bytes.Equal(m.BuildID, m.LoadedBuildID):
		return fmt.Errorf("%s has build-id %x but the loaded module %s has build-id %x: refusing to trace with another build's debug info", m.Path, m.BuildID, m.ModName, m.LoadedBuildID)
	}
	return nil
}

// Close closes the .ko.
func (m *Module) Close() error {
	if m.osFile == nil {
		return nil
	}
	err := m.osFile.Close()
	m.osFile = nil
	return err
}

// SectionName returns the name of the allocated section holding va in
// the layout, "" when none does.
func (m *Module) SectionName(va uint64) string {
	for i, s := range m.ELF.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && va >= m.addrs[i] && va-m.addrs[i] < s.Size {
			return s.Name
		}
	}
	return ""
}

// BranchTarget returns what the rel32 field at layout address at (the
// operand of a call or jump) is relocated against, which in the .ko holds
// no target yet: the function the branch reaches, by name, and its layout
// address when the module defines it (0 for the kernel's, placed at load
// time). Not ok when no PC-relative relocation applies there.
func (m *Module) BranchTarget(at uint64) (name string, va uint64, ok bool) {
	m.branchOnce.Do(m.loadBranches)
	b, ok := m.branches[at]
	return b.name, b.va, ok
}

// loadBranches indexes the PC-relative relocations of the module's code
// sections by the layout address of the field they apply to.
func (m *Module) loadBranches() {
	m.branches = map[uint64]branchRel{}
	syms, err := m.ELF.Symbols()
	if err != nil {
		return
	}
	m.loadSymbols()
	le := binary.LittleEndian
	for _, rs := range m.ELF.Sections {
		if rs.Type != elf.SHT_RELA || int(rs.Info) >= len(m.ELF.Sections) || int(rs.Info) >= len(m.addrs) {
			continue
		}
		code := m.ELF.Sections[rs.Info]
		if code.Flags&elf.SHF_EXECINSTR == 0 || m.addrs[rs.Info] == 0 {
			continue
		}
		rela, err := safeSectionData(rs)
		if err != nil || len(rela)%24 != 0 {
			continue
		}
		for off := 0; off < len(rela); off += 24 {
			at := le.Uint64(rela[off:])
			info := le.Uint64(rela[off+8:])
			addend := int64(le.Uint64(rela[off+16:]))
			typ, si := elf.R_X86_64(info&0xffffffff), info>>32
			if typ != elf.R_X86_64_PC32 && typ != elf.R_X86_64_PLT32 || si == 0 || si > uint64(len(syms)) {
				continue
			}
			sym := syms[si-1]
			b := branchRel{name: sym.Name}
			if sym.Section != elf.SHN_UNDEF {
				if int(sym.Section) >= len(m.addrs) || m.addrs[sym.Section] == 0 {
					continue
				}
				// The field holds S + A - P; the branch reaches
				// P + 4 + that, S + A + 4.
				b.va = m.addrs[sym.Section] + sym.Value + uint64(addend+4)
				if elf.ST_TYPE(sym.Info) == elf.STT_SECTION || b.name == "" {
					// Against the section: the function there.
					b.name = ""
					if i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].Value >= b.va }); i < len(m.syms) && m.syms[i].Value == b.va {
						b.name = m.syms[i].Name
					}
				}
			}
			m.branches[m.addrs[rs.Info]+at] = b
		}
	}
}

// Reloc is a relocation of a module's section: the field at offset Off
// of the section, of type Type, against Value, its symbol's layout
// address plus the addend (the symbol's address is 0 for the kernel's).
// For a PC-relative one the kernel's relative pointer there resolves to
// Value.
type Reloc struct {
	Off   uint64
	Type  elf.R_X86_64
	Value uint64
}

// SectionRelocs returns the contents of the section named name and its
// relocations (.rela<name>), in the file's order; nil without the
// section.
func (m *Module) SectionRelocs(name string) ([]byte, []Reloc, error) {
	ef := m.ELF
	idx := -1
	for i, s := range ef.Sections {
		if s.Name == name && s.Type != elf.SHT_NOBITS {
			idx = i
		}
	}
	if idx < 0 {
		return nil, nil, nil
	}
	data, err := safeSectionData(ef.Sections[idx])
	if err != nil {
		return nil, nil, err
	}
	syms, err := ef.Symbols()
	if err != nil {
		return nil, nil, err
	}
	le := binary.LittleEndian
	var out []Reloc
	for _, rs := range ef.Sections {
		if rs.Type != elf.SHT_RELA || int(rs.Info) != idx {
			continue
		}
		rela, err := safeSectionData(rs)
		if err != nil {
			return nil, nil, err
		}
		for off := 0; off+24 <= len(rela); off += 24 {
			info := le.Uint64(rela[off+8:])
			typ, si := elf.R_X86_64(info&0xffffffff), info>>32
			v := le.Uint64(rela[off+16:])
			if si != 0 && si <= uint64(len(syms)) {
				if s := syms[si-1]; s.Section != elf.SHN_UNDEF && int(s.Section) < len(m.addrs) {
					v += m.addrs[s.Section] + s.Value
				}
			}
			out = append(out, Reloc{Off: le.Uint64(rela[off:]), Type: typ, Value: v})
		}
	}
	return data, out, nil
}
