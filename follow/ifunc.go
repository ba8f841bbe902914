package follow

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/whythefail/whythefail/backtrace"
	"github.com/whythefail/whythefail/session"
)

// An ifunc (STT_GNU_IFUNC: glibc's strlen, strchr, memcpy, ...) is a
// function whose implementation a resolver chooses when the dynamic linker
// binds it (by the CPU's features): a call through the PLT jumps through a
// GOT slot that then holds the chosen implementation. No file says which
// one; the traced process's memory does. The call probe of such a call
// reads the slot (and, where the slot may be bound lazily, the return
// probe reads it again: the first call of a lazily bound PLT entry goes
// through the dynamic linker, which fills the slot), and Plan.Calls names
// the implementation at that address with the process's memory map
// (session.Stack.Maps). The resolver is never called.

// IfuncError is Input.Import's error for a name an ifunc defines.
type IfuncError struct {
	// Lib is the file name of the library defining it, Path its path.
	Lib, Path string
}

func (e *IfuncError) Error() string {
	return fmt.Sprintf("an ifunc of %s, resolved at run time", e.Lib)
}

// BindNow reports whether f asks the dynamic linker to fill its GOT slots
// at start-up (DT_FLAGS' DF_BIND_NOW or DT_FLAGS_1's DF_1_NOW); false
// when its dynamic section cannot be read.
func BindNow(f *elf.File) (now bool) {
	defer func() {
		if recover() != nil {
			now = false
		}
	}()
	if f == nil {
		return false
	}
	flags, _ := f.DynValue(elf.DT_FLAGS)
	flags1, _ := f.DynValue(elf.DT_FLAGS_1)
	return len(flags) > 0 && flags[0]&uint64(elf.DF_BIND_NOW) != 0 || len(flags1) > 0 && flags1[0]&uint64(elf.DF_1_NOW) != 0
}

// rX8664Irelative is R_X86_64_IRELATIVE: a GOT slot filled with what an
// ifunc's resolver (at the addend) returns.
const rX8664Irelative = 37

// PLTSlots returns, per PLT entry address of f (.plt.sec, .plt,
// .plt.got), the GOT slot its `jmp *disp(%rip)` reads; entries that do
// not decode so are left out. A malformed file (debug/elf may panic on
// one) gives an empty map.
func PLTSlots(f *elf.File) (out map[uint64]uint64) {
	out = map[uint64]uint64{}
	defer func() {
		if recover() != nil {
			out = map[uint64]uint64{}
		}
	}()
	if f == nil {
		return out
	}
	for _, name := range []string{".plt.sec", ".plt", ".plt.got"} {
		s := f.Section(name)
		if s == nil || s.Type != elf.SHT_PROGBITS {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		size := 16
		if s.Entsize == 8 || s.Entsize == 16 {
			size = int(s.Entsize)
		}
		for addr, slot := range pltSlots(data, s.Addr, size) {
			out[addr] = slot
		}
	}
	return out
}

// IfuncPLT names the PLT entries of f that jump through an IRELATIVE slot
// (a library's calls to its own ifuncs, glibc's memcpy and strlen, which
// no symbol names): per entry address, the name of the ifunc, the
// STT_GNU_IFUNC symbol (else any other) at the relocation's addend, the
// resolver, in f's or its debug file's symbol tables; of several at one
// address, the public name (publicName). A malformed file names none.
func IfuncPLT(f, debug *elf.File) (out map[uint64]string) {
	out = map[uint64]string{}
	defer func() {
		if recover() != nil {
			out = map[uint64]string{}
		}
	}()
	if f == nil {
		return out
	}
	slots := map[uint64]uint64{} // slot -> resolver
	Relas(f, func(r Rela) {
		if uint32(r.Info) == rX8664Irelative {
			slots[r.Offset] = uint64(r.Addend)
		}
	})
	if len(slots) == 0 {
		return out
	}
	type named struct {
		name  string
		ifunc bool
	}
	byAddr := map[uint64]named{}
	for _, e := range []*elf.File{f, debug} {
		if e == nil {
			continue
		}
		for _, read := range []func() ([]elf.Symbol, error){e.Symbols, e.DynamicSymbols} {
			syms, _ := read()
			for _, s := range syms {
				if s.Name == "" || s.Value == 0 || s.Section == elf.SHN_UNDEF {
					continue
				}
				t := elf.ST_TYPE(s.Info)
				if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC {
					continue
				}
				name, _, _ := strings.Cut(s.Name, "@")
				n := named{name, t == elf.STT_GNU_IFUNC}
				if have, ok := byAddr[s.Value]; !ok || n.ifunc && !have.ifunc || n.ifunc == have.ifunc && publicName(name, have.name) {
					byAddr[s.Value] = n
				}
			}
		}
	}
	for entry, slot := range PLTSlots(f) {
		if res, ok := slots[slot]; ok {
			if n, ok := byAddr[res]; ok {
				out[entry] = n.name
			}
		}
	}
	return out
}

// publicName reports whether name a is the better of two aliases of one
// function: fewer leading underscores (mempcpy over __mempcpy), then the
// longer (strchr over its BSD alias index, memcmp over bcmp), then the
// first in byte order.
func publicName(a, b string) bool {
	ua, ub := len(a)-len(strings.TrimLeft(a, "_")), len(b)-len(strings.TrimLeft(b, "_"))
	switch {
	case ua != ub:
		return ua < ub
	case len(a) != len(b):
		return len(a) > len(b)
	}
	return a < b
}

// ifuncTarget names the implementation an ifunc call site s reached,
// addr being the run-time address its GOT slot held: the function
// starting there in the file the process's memory map tr.Stack.Maps
// places it in. It returns the name, that file's path and the link-time
// address there; or unbound when the slot still points into the PLT of the
// file holding the call (a lazily bound entry before its first call); or,
// when the implementation cannot be named, why.
func (p *Plan) ifuncTarget(s *Site, addr uint64, tr *session.Trace) (name, path string, va uint64, unbound bool, why string) {
	maps, why := p.mapsOf(tr)
	if why != "" {
		return "", "", 0, false, why
	}
	var m backtrace.Mapping
	found := false
	for _, x := range maps {
		if addr >= x.Start && addr < x.End {
			m, found = x, true
			break
		}
	}
	if !found || !m.Exec || m.Path == "" || m.Path[0] != '/' {
		return "", "", 0, false, fmt.Sprintf("its GOT slot holds %#x, where the process maps no executable file", addr)
	}
	b := p.mappedBinary(m.Path)
	if b == nil || b.File == nil || b.File.ELF == nil {
		return "", "", 0, false, fmt.Sprintf("its GOT slot holds %#x, in %s, which could not be opened", addr, m.Path)
	}
	va, ok := linkAddr(b.File.ELF, addr-m.Start+m.Offset)
	if !ok {
		return "", "", 0, false, fmt.Sprintf("its GOT slot holds %#x, outside the loaded segments of %s", addr, m.Path)
	}
	if b.Path == s.Binary && inPLT(b, va) {
		return "", "", 0, true, ""
	}
	b.prepare()
	fs, ok := b.symbolAt(va)
	if !ok || fs.Value != va {
		return "", "", 0, false, fmt.Sprintf("its GOT slot holds %#x, which starts no function of %s", addr, filepath.Base(m.Path))
	}
	return p.implName(b, va), b.Path, va, false, ""
}

// implName is b.funcName(va), once per function: a loop's many calls of
// one implementation read its DWARF once.
func (p *Plan) implName(b *Binary, va uint64) string {
	k := fkey{b.Path, va}
	p.mu.Lock()
	n, ok := p.implNames[k]
	p.mu.Unlock()
	if ok {
		return n
	}
	n = b.funcName(va)
	p.mu.Lock()
	if p.implNames == nil {
		p.implNames = map[fkey]string{}
	}
	p.implNames[k] = n
	p.mu.Unlock()
	return n
}

// mapsOf parses the trace's memory map, once per trace.
func (p *Plan) mapsOf(tr *session.Trace) ([]backtrace.Mapping, string) {
	if tr.Stack == nil || tr.Stack.Maps == nil {
		return nil, "the process's memory map could not be read"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastMaps != nil && string(p.lastMapsText) == string(tr.Stack.Maps) {
		return p.lastMaps, ""
	}
	maps, err := backtrace.ParseMaps(tr.Stack.Maps)
	if err != nil {
		return nil, "the process's memory map: " + err.Error()
	}
	p.lastMaps, p.lastMapsText = maps, tr.Stack.Maps
	return maps, ""
}

// mappedBinary is the file at path as follow names functions in it: a
// planned one, else Input.MappedAt's, once; nil when it cannot be opened.
func (p *Plan) mappedBinary(path string) *Binary {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.bins[path]; ok {
		return b
	}
	if b, ok := p.mapped[path]; ok {
		return b
	}
	var b *Binary
	if p.mappedAt != nil {
		b = p.mappedAt(path)
	}
	if p.mapped == nil {
		p.mapped = map[string]*Binary{}
	}
	p.mapped[path] = b
	return b
}

// linkAddr turns a file offset into the link-time address of the loadable
// segment that maps it.
func linkAddr(f *elf.File, off uint64) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && off >= p.Off && off < p.Off+p.Filesz {
			return p.Vaddr + off - p.Off, true
		}
	}
	return 0, false
}
