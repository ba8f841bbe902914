package target

import (
	"context"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// DefaultDebugDirs is where distributions install separate debug files
// (Debian's *-dbgsym and *-dbg packages, Fedora's debuginfo packages).
var DefaultDebugDirs = []string{"/usr/lib/debug"}

// Options tune how a target's debug information is found.
type Options struct {
	// DebugDirs are searched, in order, after the file itself, for
	// .build-id/xx/rest.debug and for .gnu_debuglink files. The default is
	// /usr/lib/debug. Only a nil slice means the default: an empty,
	// non-nil slice searches no directory (tests use it to stay hermetic).
	DebugDirs []string
	// Debuginfod, when not nil, is asked for the debug file (and a dwz
	// supplementary file) by build-id after every local place failed.
	// Build it with debuginfod.NewFromEnv; nil keeps Open offline.
	Debuginfod *debuginfod.Client
}

// Kind says what sort of thing a Binary is: a user-space ELF file, the
// kernel or one of its modules, behind the same Binary interface, because
// they map addresses and find debug files differently (KASLR,
// /sys/kernel/notes, vmlinux under /usr/lib/debug/boot).
type Kind int

const (
	// KindUser is a user-space ELF executable or shared library, probed
	// with uprobes at file offsets.
	KindUser Kind = iota + 1
	// KindKernel is the kernel image (vmlinux): *Kernel.
	KindKernel
	// KindModule is a loadable kernel module (a .ko): *Module.
	KindModule
)

// String returns the name stap uses for the kind of target.
func (k Kind) String() string {
	switch k {
	case KindUser:
		return "process"
	case KindKernel:
		return "kernel"
	case KindModule:
		return "module"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Binary is what the later stages need from a target, whatever its Kind:
// resolution (package probe) resolves probe points through it, debug-info
// loading (package debuginfo) indexes its DWARFSections, and attaching
// (package session) follows its AddressSpace and Attach. *File implements
// it for user-space binaries; the kernel and its modules are to be new
// implementations.
type Binary interface {
	// Kind says which kind of target this is.
	Kind() Kind
	// Name is the canonical name of the target as stap prints it: the
	// resolved absolute path for a user-space binary.
	Name() string
	// ProbePoint is the target as a probe point names it, the prefix of
	// every point resolved in it: process("/usr/bin/x") for a user-space
	// binary.
	ProbePoint() string
	// AddressSpace says which memory the target's variables live in.
	AddressSpace() AddressSpace
	// Attach says how probes attach to the target's code.
	Attach() AttachKind
	// FileOffset maps a link-time (DWARF, symbol table) address to the
	// offset that a probe is attached at.
	FileOffset(va uint64) (uint64, error)
	// Code returns n bytes of machine code at a link-time address.
	Code(va uint64, n int) ([]byte, error)
	// Symbols lists the function symbols, for functions without DWARF.
	Symbols() []Symbol
	// SymbolTable is the one ELF symbol table SystemTap reads, as the
	// table has it (its listing order depends on it).
	SymbolTable() []elf.Symbol
	// DWARFSections returns the DWARF sections, read once, for
	// debuginfo.Load; nil when there is no usable debug info.
	DWARFSections() *dwarfsec.Sections
	// NeedDWARF returns nil when there is DWARF, else an error wrapping
	// ErrNoDebugInfo that tells the user how to get it.
	NeedDWARF() error
	// DebugInfo returns the DWARF, or an error wrapping ErrNoDebugInfo
	// that tells the user how to get it.
	DebugInfo() (*dwarf.Data, error)
	// CFA returns the rule computing the canonical frame address at pc as
	// DWARF register number plus offset.
	CFA(pc uint64) (reg uint64, off int64, err error)
	// Close releases the files held open.
	Close() error
}

// AddressSpace is the memory a target's variables are read from: the
// BPF programs read user memory (bpf_probe_read_user) for a user-space
// target, kernel memory (bpf_probe_read_kernel) for the kernel.
type AddressSpace int

const (
	// UserSpace is the memory of the traced process. The zero
	// AddressSpace means it too.
	UserSpace AddressSpace = iota
	// KernelSpace is the kernel's memory.
	KernelSpace
)

// String names the address space.
func (a AddressSpace) String() string {
	switch a {
	case UserSpace:
		return "user"
	case KernelSpace:
		return "kernel"
	default:
		return fmt.Sprintf("AddressSpace(%d)", int(a))
	}
}

// AttachKind is how probes attach to a target's code, the return probe
// included.
type AttachKind int

const (
	// AttachUprobe places uprobes at file offsets (uprobe_multi links
	// when the kernel has them) and a uretprobe for the return. The zero
	// AttachKind means it too.
	AttachUprobe AttachKind = iota
	// AttachKprobe places kprobes at symbol+offset in the kernel or a
	// module (statements and the entry) and a kretprobe for the return.
	AttachKprobe
)

// String names the kind of probe.
func (a AttachKind) String() string {
	switch a {
	case AttachUprobe:
		return "uprobe"
	case AttachKprobe:
		return "kprobe"
	default:
		return fmt.Sprintf("AttachKind(%d)", int(a))
	}
}

var _ Binary = (*File)(nil)

// File is an opened user-space ELF target.
type File struct {
	Path    string    // canonical path (symlinks resolved)
	ELF     *elf.File // the target binary itself
	BuildID []byte    // from .note.gnu.build-id; nil when absent

	// DebugPath and Debug are the file that carries the DWARF: ELF itself or
	// a separate debug file. Debug is nil when no debug info was found.
	// The DWARF method returns its dwarf.Data.
	DebugPath string
	Debug     *elf.File

	// AltPath and AltBuildID name the dwz supplementary file that the
	// debug file's .gnu_debugaltlink refers to, whose DWARF the debug
	// file's includes; AltPath is empty when it was not found, and
	// NeedDWARF then says so.
	AltPath    string
	AltBuildID []byte

	// secs are Debug's sections; their dwarf.Data may still be being
	// built when Open returns (dwarfsec), which DWARF waits for.
	secs *dwarfsec.Sections

	osFile          *os.File // backs ELF; Code reads through it
	debugOS         *os.File // backs Debug when it is a separate file
	size            int64    // size of the binary, for bounds checks
	debugDir        []string // effective DebugDirs, for NeedDWARF's message
	skipped         []string // debug-file candidates rejected, and why
	altOS           *os.File // backs the dwz supplementary file
	altErr          error    // why the debug file's DWARF cannot be used
	askedDebuginfod bool     // a debuginfod client was configured and asked

	symOnce sync.Once
	syms    []Symbol

	gotOnce sync.Once
	got     map[gotKey]uint64 // GOT slots of data symbols (GOTSlot)

	frameOnce sync.Once
	fdes      frame.FrameDescriptionEntries
	frameErr  error
}

// Open opens the ELF executable or shared library at path and finds its
// debug information. It looks for DWARF in the file itself, then by build-id
// under each of opts.DebugDirs (.build-id/xx/rest.debug), then by the
// .gnu_debuglink name beside the binary, in its .debug subdirectory and under
// each debug dir followed by the binary's directory, and last from the
// debuginfod servers of opts.Debuginfod. A separate debug file must match
// the binary's build-id when both have one, and the debuglink CRC.
//
// Finding no debug info is not an error: the returned File's DWARF is nil
// and NeedDWARF explains what to install, because functions can still be
// listed from the ELF symbol tables.
func Open(path string, opts Options) (*File, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open with a context that bounds the debuginfod lookups.
func OpenContext(ctx context.Context, path string, opts Options) (*File, error) {
	canon, err := canonicalPath(path)
	if err != nil {
		return nil, err
	}
	osf, ef, size, err := openELF(canon)
	if err != nil {
		return nil, err
	}
	f := &File{Path: canon, ELF: ef, osFile: osf, size: size}
	if err := checkTarget(ef); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", canon, err)
	}
	f.BuildID = buildID(ef)
	f.debugDir = opts.DebugDirs
	if f.debugDir == nil {
		f.debugDir = DefaultDebugDirs
	}
	if err := f.findDebug(ctx, opts.Debuginfod); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// canonicalPath makes path absolute and resolves symlinks, so that a target
// reached through /lib or a versioned symlink is named like stap names it.
func canonicalPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	canon, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !strings.Contains(path, "/") {
				// A bare name that FindExecutable did not find either.
				return "", notFoundError(path + ": no such file in the current directory, and no program of that name in PATH")
			}
			return "", fmt.Errorf("%s: %w", abs, fs.ErrNotExist)
		}
		return "", fmt.Errorf("resolving %s: %w", abs, err)
	}
	return canon, nil
}

// Kind reports KindUser.
func (f *File) Kind() Kind { return KindUser }

// Name returns the canonical path of the binary.
func (f *File) Name() string { return f.Path }

// ProbePoint returns process("PATH") with the canonical path.
func (f *File) ProbePoint() string { return `process("` + f.Path + `")` }

// AddressSpace reports UserSpace.
func (f *File) AddressSpace() AddressSpace { return UserSpace }

// Attach reports AttachUprobe.
func (f *File) Attach() AttachKind { return AttachUprobe }

// DebugInfo returns the DWARF, or NeedDWARF's error when there is none.
func (f *File) DebugInfo() (*dwarf.Data, error) {
	if err := f.NeedDWARF(); err != nil {
		return nil, err
	}
	dw, err := f.secs.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", f.DebugPath, ErrBadDebugInfo, err)
	}
	return dw, nil
}

// DWARFSections returns the debug file's DWARF sections, read once by
// Open, for debuginfo.Load; nil when no debug info was found. Their
// dwarf.Data may still be being built (dwarfsec.Sections.Data).
func (f *File) DWARFSections() *dwarfsec.Sections { return f.secs }

// DWARF returns the debug file's DWARF, nil when none was found or it is
// malformed (DebugInfo says why). Open hands the building of it to the
// background, so that indexing can start first: DWARF waits for it.
func (f *File) DWARF() *dwarf.Data {
	if f.secs == nil {
		return nil
	}
	dw, _ := f.secs.Data()
	return dw
}

// NeedDWARF returns nil when the target has DWARF, and otherwise a one-line
// error wrapping ErrNoDebugInfo that says how to obtain it (also when the
// dwz supplementary file the debug file needs is missing), or wrapping
// ErrUnsupportedDebugInfo for a DWARF 5 supplementary file (.debug_sup). Callers that can
// work from symbols alone (listing functions) call it only when they need
// statements or variables.
func (f *File) NeedDWARF() error {
	if f.altErr != nil {
		return f.altErr
	}
	if f.secs != nil {
		return nil
	}
	id := "no build-id"
	if len(f.BuildID) > 0 {
		id = fmt.Sprintf("build-id %x", f.BuildID)
	}
	var why string
	if len(f.skipped) > 0 {
		why = "; rejected " + strings.Join(f.skipped, ", ")
	}
	server := "set DEBUGINFOD_URLS"
	if f.askedDebuginfod {
		server = "add a debuginfod server that has it to DEBUGINFOD_URLS"
	}
	return fmt.Errorf("%w for %s (%s%s): %s", ErrNoDebugInfo, f.Path, id, why, debugAdvice(f.Path, server))
}

// Close closes the binary and its separate debug file.
func (f *File) Close() error {
	var errs []error
	if f.Debug != nil && f.Debug != f.ELF {
		errs = append(errs, f.Debug.Close())
	}
	if f.altOS != nil {
		errs = append(errs, f.altOS.Close())
		f.altOS = nil
	}
	if f.debugOS != nil {
		errs = append(errs, f.debugOS.Close())
		f.debugOS = nil
	}
	if f.osFile != nil {
		errs = append(errs, f.osFile.Close())
		f.osFile = nil
	}
	return errors.Join(errs...)
}

// notFoundError is a missing file's message that says where it was looked
// for; it is fs.ErrNotExist for errors.Is.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// Is makes the error fs.ErrNotExist.
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }
