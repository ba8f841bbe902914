package target

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/internal/elfnote"
)

// KernelOptions say which kernel's debug info OpenKernel and OpenModule
// use and where they look for it.
type KernelOptions struct {
	// Release is the kernel release (uname -r) whose files are used, as
	// stap -r RELEASE takes it; "" means the running kernel's.
	Release string
	// DebugDirs are searched for boot/vmlinux-REL, lib/modules/REL/vmlinux,
	// lib/modules/REL/**/NAME.ko and .build-id/xx/rest.debug; nil means
	// DefaultDebugDirs.
	DebugDirs []string
	// Debuginfod, when not nil, is asked by build-id (the running
	// kernel's, or the loaded module's) after every local place failed.
	Debuginfod *debuginfod.Client
	// ModulesDir is the tree of installed modules, /lib/modules when "".
	ModulesDir string
	// SysDir is where the running kernel's notes are read
	// (SysDir/kernel/notes, SysDir/module/NAME/notes/...), /sys when "".
	SysDir string
}

func (o KernelOptions) debugDirs() []string {
	if o.DebugDirs == nil {
		return DefaultDebugDirs
	}
	return o.DebugDirs
}

func (o KernelOptions) modulesDir() string {
	if o.ModulesDir == "" {
		return "/lib/modules"
	}
	return o.ModulesDir
}

func (o KernelOptions) sysDir() string {
	if o.SysDir == "" {
		return "/sys"
	}
	return o.SysDir
}

// RunningRelease returns the release of the running kernel (uname -r).
func RunningRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}

// release returns the release o names and whether it is the running one.
func (o KernelOptions) release() (rel string, running bool, err error) {
	run, err := RunningRelease()
	if err != nil {
		return "", false, err
	}
	if o.Release == "" {
		return run, true, nil
	}
	if strings.ContainsAny(o.Release, "/\x00") || o.Release == "." || o.Release == ".." {
		return "", false, fmt.Errorf("bad kernel release %q: give it as uname -r prints it", o.Release)
	}
	return o.Release, o.Release == run, nil
}

// notesBuildID reads the GNU build-id from a file of raw ELF notes, as
// /sys/kernel/notes and /sys/module/NAME/notes/.note.gnu.build-id are; nil
// when it cannot be read.
func notesBuildID(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return elfnote.Find(data, binary.LittleEndian)
}

// Kernel is the kernel image as a target: the vmlinux that carries its
// DWARF, opened as a File (an ET_EXEC whose link-time addresses are the
// kernel's virtual addresses without KASLR). Name and ProbePoint are
// "kernel".
type Kernel struct {
	*File
	// Release is the kernel release whose vmlinux this is.
	Release string
	// Running says the release is the running kernel's.
	Running bool
	// RunningBuildID is the running kernel's build-id (/sys/kernel/notes)
	// when Running, nil when it could not be read.
	RunningBuildID []byte
	running        string // the running release, for CheckTracing

	kprobesOnce sync.Once
	kprobesText [2]uint64 // KprobesText's range
}

var _ Binary = (*Kernel)(nil)

// vmlinuxPaths lists where distributions put the vmlinux of rel, in the
// order they are tried.
func vmlinuxPaths(rel string, debugDirs []string, modulesDir string) []string {
	var out []string
	for _, d := range debugDirs {
		out = append(out, filepath.Join(d, "boot", "vmlinux-"+rel), filepath.Join(d, "lib/modules", rel, "vmlinux"))
	}
	return append(out, "/boot/vmlinux-"+rel, filepath.Join(modulesDir, rel, "build/vmlinux"))
}

// OpenKernel finds and opens the vmlinux with DWARF of the kernel release
// opts names (the running kernel by default): at
// DEBUGDIR/boot/vmlinux-REL, DEBUGDIR/lib/modules/REL/vmlinux,
// /boot/vmlinux-REL and /lib/modules/REL/build/vmlinux, a stripped one's
// debug file by its build-id (as Open finds it), and for the running
// kernel by its build-id (/sys/kernel/notes) under the debug dirs and from
// debuginfod. When the kernel is running, a vmlinux of the same build-id is
// preferred; one of another build-id is still opened (listing works) and
// CheckTracing refuses it. Finding none is an error wrapping
// ErrNoDebugInfo that says what was looked for and how to get it.
func OpenKernel(ctx context.Context, opts KernelOptions) (*Kernel, error) {
	rel, running, err := opts.release()
	if err != nil {
		return nil, err
	}
	run, _ := RunningRelease()
	k := &Kernel{Release: rel, Running: running, running: run}
	if running {
		k.RunningBuildID = notesBuildID(filepath.Join(opts.sysDir(), "kernel/notes"))
	}
	fopts := Options{DebugDirs: opts.debugDirs(), Debuginfod: opts.Debuginfod}
	var other *File // a vmlinux with DWARF but another build-id
	use := func(f *File) bool {
		if f.NeedDWARF() != nil {
			f.Close()
			return false
		}
		if k.RunningBuildID != nil && !bytes.Equal(f.BuildID, k.RunningBuildID) {
			if other == nil {
				other = f
			} else {
				f.Close()
			}
			return false
		}
		k.File = f
		return true
	}
	tried := vmlinuxPaths(rel, opts.debugDirs(), opts.modulesDir())
	for _, p := range tried {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		f, err := OpenContext(ctx, p, fopts)
		if err != nil {
			continue
		}
		if use(f) {
			break
		}
	}
	if k.File == nil && k.RunningBuildID != nil {
		for _, d := range opts.debugDirs() {
			p := buildIDPath(d, k.RunningBuildID)
			tried = append(tried, p)
			if f, err := OpenContext(ctx, p, Options{DebugDirs: []string{}}); err == nil && use(f) {
				break
			}
		}
		if k.File == nil && opts.Debuginfod != nil {
			if p, err := opts.Debuginfod.Debuginfo(ctx, k.RunningBuildID); err == nil {
				if f, err := OpenContext(ctx, p, Options{DebugDirs: []string{}}); err == nil {
					use(f)
				}
			}
		}
	}
	if k.File == nil {
		if other != nil {
			k.File = other
			return k, nil
		}
		return nil, k.noDebugInfo(tried, opts.Debuginfod != nil)
	}
	if other != nil {
		other.Close()
	}
	return k, nil
}

// noDebugInfo is OpenKernel's error when no vmlinux with DWARF was found.
func (k *Kernel) noDebugInfo(tried []string, askedDebuginfod bool) error {
	id := ""
	if k.RunningBuildID != nil {
		id = fmt.Sprintf(", build-id %x", k.RunningBuildID)
	}
	server := " or set DEBUGINFOD_URLS to a server that has it"
	if askedDebuginfod {
		server = " or add a debuginfod server that has it to DEBUGINFOD_URLS"
	}
	if !k.Running {
		server = " (debuginfod is asked by build-id for the running kernel only)"
	}
	return fmt.Errorf("%w for kernel %s%s: no vmlinux with DWARF at %s; install linux-image-%s-dbg (Debian; kernel-debuginfo elsewhere)%s",
		ErrNoDebugInfo, k.Release, id, strings.Join(tried, ", "), k.Release, server)
}

// Kind reports KindKernel.
func (k *Kernel) Kind() Kind { return KindKernel }

// Name returns "kernel".
func (k *Kernel) Name() string { return "kernel" }

// ProbePoint returns "kernel", the prefix of kernel.function(...) points.
func (k *Kernel) ProbePoint() string { return "kernel" }

// AddressSpace reports KernelSpace.
func (k *Kernel) AddressSpace() AddressSpace { return KernelSpace }

// Attach reports the kprobe attach kind.
func (k *Kernel) Attach() AttachKind { return AttachKprobe }

// FileOffset returns va itself, the link-time address: kernel probes are
// placed at symbol+offset (KprobeSite), never at a file offset. It fails
// for an address outside the vmlinux's executable segments.
func (k *Kernel) FileOffset(va uint64) (uint64, error) {
	if _, err := k.codeSegment(va); err != nil {
		return 0, err
	}
	return va, nil
}

// KprobeSite returns the function symbol containing the link-time address
// va and va's offset inside it: a kprobe is attached at SYMBOL+OFFSET,
// which the kernel resolves through kallsyms whatever KASLR did. Among
// several symbols at one address a name unique in the symbol table is
// chosen; an address that only shared names cover is an error wrapping
// ErrNoKprobeSite.
func (k *Kernel) KprobeSite(va uint64) (string, uint64, error) {
	return kprobeSite(k.Symbols(), va, "kernel")
}

// CheckTracing returns nil when this kernel can be traced: it is the
// running one and its vmlinux has the running kernel's build-id.
// Otherwise a one-line error says why (both build-ids named).
func (k *Kernel) CheckTracing() error {
	if !k.Running {
		return fmt.Errorf("kernel %s is not the running kernel (%s): -r lists its probe points but cannot trace it", k.Release, k.running)
	}
	if k.RunningBuildID != nil && !bytes.Equal(k.BuildID, k.RunningBuildID) {
		return fmt.Errorf("%s has build-id %x but the running kernel %s has build-id %x: refusing to trace with another build's debug info", k.Path, k.BuildID, k.Release, k.RunningBuildID)
	}
	return nil
}

// ErrNoKprobeSite says that no function symbol can name an address for a
// kprobe.
var ErrNoKprobeSite = errors.New("no symbol to place a kprobe at")

// kprobeSite finds the function symbol of syms (sorted by address, then
// name) containing va: the kernel resolves a kprobe's SYMBOL+OFFSET by
// name, so among the symbols at that address one whose name is unique in
// the table is preferred, and an address only non-unique names cover is
// refused (the kernel refuses ambiguous names too).
func kprobeSite(syms []Symbol, va uint64, what string) (string, uint64, error) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Value > va })
	// syms[:i] begin at or before va; the candidates are those at the
	// greatest such address whose extent holds va.
	if i == 0 {
		return "", 0, fmt.Errorf("%s: %#x: %w", what, va, ErrNoKprobeSite)
	}
	start := syms[i-1].Value
	count := make(map[string]int)
	for _, s := range syms {
		count[s.Name]++
	}
	var cands []Symbol
	for j := i - 1; j >= 0 && syms[j].Value == start; j-- {
		if s := syms[j]; va-s.Value < s.Size || (s.Size == 0 && va == s.Value) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return "", 0, fmt.Errorf("%s: %#x is in no function symbol: %w", what, va, ErrNoKprobeSite)
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].Name < cands[b].Name })
	for _, s := range cands {
		if count[s.Name] == 1 {
			return s.Name, va - s.Value, nil
		}
	}
	return "", 0, fmt.Errorf("%s: %#x is in %s, a name %d functions share: %w", what, va, cands[0].Name, count[cands[0].Name], ErrNoKprobeSite)
}

// SectionName returns the name of the allocated section of the vmlinux
// holding va, "" when none does.
func (k *Kernel) SectionName(va uint64) string {
	for _, s := range k.ELF.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && va >= s.Addr && va-s.Addr < s.Size {
			return s.Name
		}
	}
	return ""
}

// KprobesText returns the kernel's [__kprobes_text_start,
// __kprobes_text_end), functions marked __kprobes; ok is false when the
// symbol table has no such range.
func (k *Kernel) KprobesText() (start, end uint64, ok bool) {
	k.kprobesOnce.Do(func() {
		for _, s := range k.SymbolTable() {
			switch s.Name {
			case "__kprobes_text_start":
				k.kprobesText[0] = s.Value
			case "__kprobes_text_end":
				k.kprobesText[1] = s.Value
			}
		}
	})
	start, end = k.kprobesText[0], k.kprobesText[1]
	return start, end, start != 0 && end > start
}
