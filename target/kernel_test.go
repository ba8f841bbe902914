package target

import (
	"bytes"
	"context"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// testRelease is the kernel whose debug files CI installs (Debian 12's
// stock kernel): its vmlinux under /usr/lib/debug/boot and its 9p and
// 9pnet debug modules under /usr/lib/debug/lib/modules.
const testRelease = "6.1.0-57-amd64"

// elfSymbol returns the value and section of the named symbol of the ELF
// file at path, read with debug/elf as an independent reference.
func elfSymbol(t *testing.T, path, name string) elf.Symbol {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s: no symbol %s", path, name)
	return elf.Symbol{}
}

func TestOpenKernel(t *testing.T) {
	k, err := OpenKernel(context.Background(), KernelOptions{Release: testRelease})
	if err != nil {
		fixture.Missing(t, "kernel %s: %v", testRelease, err)
	}
	defer k.Close()
	if k.Kind() != KindKernel || k.Name() != "kernel" || k.ProbePoint() != "kernel" || k.AddressSpace() != KernelSpace {
		t.Errorf("kind %v, name %q, probe point %q, address space %v", k.Kind(), k.Name(), k.ProbePoint(), k.AddressSpace())
	}
	if k.Kind().String() != "kernel" {
		t.Errorf("Kind.String = %q", k.Kind())
	}
	if err := k.NeedDWARF(); err != nil {
		t.Fatal(err)
	}
	sym := elfSymbol(t, k.Path, "perf_copy_attr")
	name, off, err := k.KprobeSite(sym.Value + 3)
	if err != nil || name != "perf_copy_attr" || off != 3 {
		t.Errorf("KprobeSite(perf_copy_attr+3) = %q, %d, %v", name, off, err)
	}
	if fo, err := k.FileOffset(sym.Value); err != nil || fo != sym.Value {
		t.Errorf("FileOffset = %#x, %v; want the link-time address %#x", fo, err, sym.Value)
	}
	// Code reads the vmlinux's own bytes.
	code, err := k.Code(sym.Value, 16)
	if err != nil {
		t.Fatal(err)
	}
	text := k.ELF.Section(".text")
	want := make([]byte, 16)
	if _, err := k.osFile.ReadAt(want, int64(text.Offset+sym.Value-text.Addr)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, want) {
		t.Errorf("Code = %x, want %x", code, want)
	}
	if s := k.SectionName(sym.Value); s != ".text" {
		t.Errorf("SectionName = %q", s)
	}
	// Not the running kernel on any machine that runs these tests
	// with another one: tracing is refused in one line naming both.
	if !k.Running {
		err := k.CheckTracing()
		if err == nil || !strings.Contains(err.Error(), testRelease) || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckTracing = %v", err)
		}
	}
}

func TestOpenKernelMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenKernel(context.Background(), KernelOptions{Release: "0.0.0-none", DebugDirs: []string{dir}, ModulesDir: dir})
	if !errors.Is(err, ErrNoDebugInfo) {
		t.Fatalf("err = %v, want ErrNoDebugInfo", err)
	}
	for _, want := range []string{"kernel 0.0.0-none", filepath.Join(dir, "boot/vmlinux-0.0.0-none"), "/boot/vmlinux-0.0.0-none", "install linux-image-0.0.0-none-dbg"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := OpenKernel(context.Background(), KernelOptions{Release: "../x"}); err == nil || !strings.Contains(err.Error(), "bad kernel release") {
		t.Errorf("release ../x: %v", err)
	}
}

// debugModule returns the path of testRelease's debug 9pnet.ko.
func debugModule(t *testing.T) string {
	t.Helper()
	p := filepath.Join("/usr/lib/debug/lib/modules", testRelease, "kernel/net/9p/9pnet.ko")
	if _, err := os.Stat(p); err != nil {
		fixture.Missing(t, "9pnet's debug module of %s (linux-image-%s-dbg): %v", testRelease, testRelease, err)
	}
	return p
}

func TestOpenModule(t *testing.T) {
	path := debugModule(t)
	m, err := OpenModule(context.Background(), "9pnet", KernelOptions{Release: testRelease})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Path != path || m.Kind() != KindModule || m.Name() != "9pnet" || m.ProbePoint() != `module("9pnet")` || m.AddressSpace() != KernelSpace {
		t.Errorf("path %s, kind %v, name %q, probe point %q, address space %v", m.Path, m.Kind(), m.Name(), m.ProbePoint(), m.AddressSpace())
	}
	// The layout: sections one after the other from 0x10000, aligned,
	// as libdwfl lays them out (stap -vv: "[0x10000-0x22360").
	var end uint64
	for i, s := range m.ELF.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if a := m.addrs[i]; a < moduleBase || a < end || a%max(s.Addralign, 1) != 0 {
			t.Errorf("section %s at %#x after %#x", s.Name, a, end)
		}
		end = m.addrs[i] + s.Size
	}
	if end != 0x22360 {
		t.Errorf("layout ends at %#x, stap's at 0x22360", end)
	}
	raw := elfSymbol(t, path, "p9_client_create")
	var va uint64
	for _, s := range m.Symbols() {
		if s.Name == "p9_client_create" {
			va = s.Value
		}
	}
	if va != m.addrs[raw.Section]+raw.Value {
		t.Fatalf("p9_client_create at %#x, want its section's address plus %#x", va, raw.Value)
	}
	if name, off, err := m.KprobeSite(va + 7); err != nil || name != "p9_client_create" || off != 7 {
		t.Errorf("KprobeSite = %q, %d, %v", name, off, err)
	}
	if s := m.SectionName(va); s != ".text" {
		t.Errorf("SectionName = %q", s)
	}
	code, err := m.Code(va, 5)
	if err != nil {
		t.Fatal(err)
	}
	sec := m.ELF.Sections[raw.Section]
	want := make([]byte, 5)
	if _, err := m.osFile.ReadAt(want, int64(sec.Offset+raw.Value)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, want) {
		t.Errorf("Code = %x, want %x", code, want)
	}
	// The relocated DWARF (its range list, which .rela.debug_rnglists
	// relocates) puts the function at its layout address.
	dw, err := m.DebugInfo()
	if err != nil {
		t.Fatal(err)
	}
	rd := dw.Reader()
	var starts []uint64
	for e, err := rd.Next(); e != nil && err == nil; e, err = rd.Next() {
		if e.Tag == dwarf.TagSubprogram && e.Val(dwarf.AttrName) == "p9_client_create" {
			rs, err := dw.Ranges(e)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				starts = append(starts, r[0])
			}
		}
	}
	if !slices.Contains(starts, va) {
		t.Errorf("p9_client_create's ranges start at %#x, not at %#x", starts, va)
	}
}

// moduleTree lays out a stand-in of a machine running the module at src
// under the name my_mod: the module file, at the path it returns, in a
// debug tree of the running release, and a /sys whose
// module/my_mod/notes/.note.gnu.build-id says the loaded module's
// build-id is loaded. The options it returns look there (and find no
// module tree of the release).
func moduleTree(t *testing.T, src string, loaded []byte) (string, KernelOptions) {
	t.Helper()
	rel, err := RunningRelease()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dst := filepath.Join(root, "lib/modules", rel, "kernel/net/my_mod.ko")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	note := binary.LittleEndian.AppendUint32(nil, 4)
	note = binary.LittleEndian.AppendUint32(note, uint32(len(loaded)))
	note = binary.LittleEndian.AppendUint32(note, 3)
	note = append(append(note, "GNU\x00"...), loaded...)
	notes := filepath.Join(root, "sys/module/my_mod/notes")
	if err := os.MkdirAll(notes, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notes, ".note.gnu.build-id"), note, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst, KernelOptions{DebugDirs: []string{filepath.Join(root, "lib/..")}, ModulesDir: filepath.Join(root, "none"), SysDir: filepath.Join(root, "sys")}
}

// TestOpenModuleBuildID finds a module by its name spelled with '-' in a
// tree of the running release, and refuses to trace it when the loaded
// module's build-id (in a stand-in /sys) differs, naming both ids.
func TestOpenModuleBuildID(t *testing.T) {
	src := debugModule(t)
	loaded := bytes.Repeat([]byte{0xab}, 20)
	dst, opts := moduleTree(t, src, loaded)
	m, err := OpenModule(context.Background(), "my-mod", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Path != dst || !m.Running || !bytes.Equal(m.LoadedBuildID, loaded) {
		t.Fatalf("path %s, running %v, loaded build-id %x", m.Path, m.Running, m.LoadedBuildID)
	}
	err = m.CheckTracing()
	if err == nil || !strings.Contains(err.Error(), hex.EncodeToString(loaded)) || !strings.Contains(err.Error(), hex.EncodeToString(m.BuildID)) {
		t.Errorf("CheckTracing = %v: want both build-ids", err)
	}
	if _, err := OpenModule(context.Background(), "9p*", opts); err == nil || !strings.Contains(err.Error(), "bad module name") {
		t.Errorf("module 9p*: %v", err)
	}
}

func TestKprobeSite(t *testing.T) {
	syms := []Symbol{
		{Name: "a", Value: 0x100, Size: 0x10},
		{Name: "b_alias", Value: 0x200, Size: 0x20},
		{Name: "dup", Value: 0x200, Size: 0x20},
		{Name: "dup", Value: 0x300, Size: 0x10},
		{Name: "dup", Value: 0x400, Size: 0x10},
	}
	for _, c := range []struct {
		va   uint64
		name string
		off  uint64
		err  bool
	}{
		{0x100, "a", 0, false},
		{0x10f, "a", 0xf, false},
		{0x110, "", 0, true},         // past a's end
		{0x50, "", 0, true},          // before every symbol
		{0x204, "b_alias", 4, false}, // the unique name of two
		{0x304, "", 0, true},         // only a shared name
	} {
		name, off, err := kprobeSite(syms, c.va, "t")
		if name != c.name || off != c.off || (err != nil) != c.err {
			t.Errorf("kprobeSite(%#x) = %q, %#x, %v", c.va, name, off, err)
		}
		if err != nil && !errors.Is(err, ErrNoKprobeSite) {
			t.Errorf("kprobeSite(%#x): %v does not match ErrNoKprobeSite", c.va, err)
		}
	}
}

// FuzzModuleRelocate applies arbitrary relocation entries to a small
// section. Invariants: no panic, and an error for every entry that would
// write outside the section or uses an unsupported type.
func FuzzModuleRelocate(f *testing.F) {
	entry := func(off, sym uint64, typ elf.R_X86_64, addend int64) []byte {
		b := binary.LittleEndian.AppendUint64(nil, off)
		b = binary.LittleEndian.AppendUint64(b, sym<<32|uint64(typ))
		return binary.LittleEndian.AppendUint64(b, uint64(addend))
	}
	f.Add(entry(0, 1, elf.R_X86_64_64, 8))
	f.Add(entry(12, 2, elf.R_X86_64_32, -1))
	f.Add(entry(14, 1, elf.R_X86_64_32S, 0))
	f.Add(entry(0, 9, elf.R_X86_64_PC32, 0))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, rela []byte) {
		m := &Module{ModName: "fuzz", addrs: []uint64{0, 0x10000, 0}}
		syms := []elf.Symbol{
			{Name: ".text", Section: 1, Info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_SECTION)},
			{Name: "undef", Section: elf.SHN_UNDEF},
			{Name: "far", Section: 7},
		}
		sec := make([]byte, 16)
		_ = m.relocate(sec, ".debug_info", rela, syms)
	})
}

// TestOpenKernelBuildIDMismatch stands a vmlinux of another build in for
// the running kernel's (a symlink under a debug dir, a stand-in
// /sys/kernel/notes): it is opened, so listing works, and CheckTracing
// refuses it naming both build-ids.
func TestOpenKernelBuildIDMismatch(t *testing.T) {
	src := "/usr/lib/debug/boot/vmlinux-" + testRelease
	if _, err := os.Stat(src); err != nil {
		fixture.Missing(t, "vmlinux of %s: %v", testRelease, err)
	}
	rel, err := RunningRelease()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "debug/boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(root, "debug/boot/vmlinux-"+rel)); err != nil {
		t.Fatal(err)
	}
	running := bytes.Repeat([]byte{0xcd}, 20)
	note := binary.LittleEndian.AppendUint32(nil, 4)
	note = binary.LittleEndian.AppendUint32(note, uint32(len(running)))
	note = binary.LittleEndian.AppendUint32(note, 3)
	note = append(append(note, "GNU\x00"...), running...)
	if err := os.MkdirAll(filepath.Join(root, "sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sys/kernel/notes"), note, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := OpenKernel(context.Background(), KernelOptions{DebugDirs: []string{filepath.Join(root, "debug")}, ModulesDir: filepath.Join(root, "none"), SysDir: filepath.Join(root, "sys")})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.Path != src || !k.Running || !bytes.Equal(k.RunningBuildID, running) {
		t.Fatalf("path %s, running %v, running build-id %x", k.Path, k.Running, k.RunningBuildID)
	}
	err = k.CheckTracing()
	if err == nil || !strings.Contains(err.Error(), hex.EncodeToString(running)) || !strings.Contains(err.Error(), hex.EncodeToString(k.BuildID)) {
		t.Errorf("CheckTracing = %v: want both build-ids", err)
	}
}

// TestModuleLoadedAddr places a module's static variable (9pnet's
// p9_client_create's seqno) where a stand-in /sys/module/NAME/sections/
// says the loaded module's section is, at the variable's offset in that
// section; with the section's file absent, or reading 0 (addresses
// hidden), or another build loaded, it says why.
func TestModuleLoadedAddr(t *testing.T) {
	src := debugModule(t)
	ef, err := elf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	var seqno elf.Symbol
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "seqno.") && elf.ST_TYPE(s.Info) == elf.STT_OBJECT {
			seqno = s
		}
	}
	if seqno.Name == "" || int(seqno.Section) >= len(ef.Sections) {
		t.Fatalf("no seqno.N object symbol in %s", src)
	}
	secName := ef.Sections[seqno.Section].Name
	_, opts := moduleTree(t, src, buildID(ef))
	mod := filepath.Join(opts.SysDir, "module/my_mod")
	if err := os.MkdirAll(filepath.Join(mod, "sections"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := OpenModule(context.Background(), "my-mod", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Its DW_OP_addr: the address in the module's layout.
	va := m.addrs[seqno.Section] + seqno.Value
	if _, err := m.LoadedAddr(va); err == nil || !strings.Contains(err.Error(), "sections/"+secName) {
		t.Errorf("LoadedAddr without the section's file: %v", err)
	}
	sec := filepath.Join(mod, "sections", secName)
	if err := os.WriteFile(sec, []byte("0x0000000000000000\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadedAddr(va); err == nil || !strings.Contains(err.Error(), "hides module addresses") {
		t.Errorf("LoadedAddr with the address hidden: %v", err)
	}
	const base = 0xffffffffc0a42000
	if err := os.WriteFile(sec, []byte("0xffffffffc0a42000\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if got, err := m.LoadedAddr(va); err != nil || got != base+seqno.Value {
		t.Errorf("LoadedAddr(%s) = %#x, %v; want %#x (%s at %#x, plus %#x)", seqno.Name, got, err, uint64(base+seqno.Value), secName, uint64(base), seqno.Value)
	}
	m.LoadedBuildID = bytes.Repeat([]byte{0xab}, 20)
	if _, err := m.LoadedAddr(va); err == nil || !strings.Contains(err.Error(), "refusing to trace") {
		t.Errorf("LoadedAddr with another build loaded: %v", err)
	}
}
