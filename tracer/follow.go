package tracer

import (
	"debug/elf"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/internal/timing"
	"github.com/whythefail/whythefail/target"
)

// DefaultFollowDepth is --follow's depth without a value; MaxFollowDepth
// the deepest accepted.
const (
	DefaultFollowDepth = 3
	MaxFollowDepth     = 8
)

// maxScope bounds the shared libraries searched for a PLT call's target.
const maxScope = 32

// planFollow adds the call and return probes of --follow to the job's
// plan (package follow), depth levels deep (0: DefaultFollowDepth): in
// user-space programs and in the kernel, where they become kprobes at
// symbol+offset like statements (kernelSites). In the kernel a callee the
// kernel refuses kprobes in (ks.refused: notrace, blacklisted, entry or
// noinstr code, a name several functions share) is a leaf of the call
// tree: its own calls are not followed, and a note names it. A module's
// code is relocated at load, so its call targets cannot be read from the
// .ko: refused. In user space the return probes outside FUNCTION's code
// are placed as statements are (cfg.Placement), except in the origin
// whose statements a re-run traces (cfg.Origin).
func planFollow(job *Job, bin target.Binary, ks *kernelSymbols, lists kernelLists, fn *debuginfo.Function, cfg Config) error {
	depth := cfg.FollowDepth
	in := follow.Input{
		Fn: fn, Code: bin.Code, FileOffset: bin.FileOffset, Symbols: bin.Symbols(),
		FirstID: nextStmtID(job.Plan.Stmts), RetSize: job.Plan.RetSize, RetUnsigned: job.Plan.RetUnsigned,
		RetPointer: job.Header.ReturnFormat == "ptr", Depth: depth,
	}
	if in.Depth <= 0 {
		in.Depth = DefaultFollowDepth
	}
	switch f, ok := bin.(*target.File); {
	case bin.Kind() == target.KindKernel:
		if kb, ok := bin.(kernelBinary); ok && ks != nil {
			in.ReturnOf = kernelReturns(kb)
			in.Refused = func(s target.Symbol) string { return ks.refused(kb, lists, s) }
			rs := kernelReserved(kb)
			in.SiteRefused = func(pc uint64) bool { return rs.why(pc) != "" }
		}
		// One level per run, as in user space: a callee's calls are
		// kprobed once a failure blamed it (Job.RunFollow, swapOrigin).
		in.Staged, in.Also = !cfg.FollowEager, cfg.FollowAlso
	case bin.Kind() == target.KindModule:
		// A module's calls are relocated at load: the .ko's
		// relocations name their targets. Its own functions are
		// followed, typed by its DWARF; the kernel's are named.
		m, ok := bin.(*target.Module)
		if !ok {
			return errors.New("--follow: a module target that is not a .ko")
		}
		in.Branch, in.ReturnOf = m.BranchTarget, newDWARFReturns(m).of
		if ks != nil {
			in.Refused = func(s target.Symbol) string { return ks.refused(m, lists, s) }
		}
		rs := kernelReserved(m)
		in.SiteRefused = func(pc uint64) bool { return rs.why(pc) != "" }
		in.Staged, in.Also = !cfg.FollowEager, cfg.FollowAlso
	case !ok || bin.Kind() != target.KindUser:
		return errors.New("--follow follows calls in user-space programs, the kernel and its modules only")
	default:
		sc := &scope{opts: job.targetOpts, root: f}
		// errno at each call and return: a callee failing with NULL or
		// -1 and errno set, its caller failing the same way, is
		// followed.
		if job.Plan.Errno == nil {
			// (errnoMiss stays unset: the run's note about errno() not
			// found is for conditions and variables that use it.)
			if loc, _, _ := errnoLocation(f); loc != nil && loc.Mode != bpfgen.ErrnoUnknown {
				job.Plan.Errno = loc
			}
		}
		in.Errno = job.Plan.Errno != nil && job.Plan.Errno.Mode != bpfgen.ErrnoUnknown
		in.PLT, in.File, in.Path, in.Import = follow.PLTNames(f.ELF), f, f.Path, sc.resolve
		in.Slots, in.IfuncPLT, in.BindNow, in.MappedAt = follow.PLTSlots(f.ELF), follow.IfuncPLT(f.ELF, f.Debug), follow.BindNow(f.ELF), sc.mappedAt
		// A target of a call through a pointer may be in a file the
		// binary does not need (a plugin loaded with dlopen).
		in.Also, in.BinaryAt = cfg.FollowAlso, sc.mappedAt
		// One level per run: a callee's calls are probed once a
		// failure blamed it (Job.RunFollow, swapOrigin).
		in.Staged = !cfg.FollowEager
		if cfg.Placement.Auto {
			in.Emulated = cfg.Placement.Emulated
		}
		if o := cfg.Origin; o != nil {
			in.Stay = func(path string, entry uint64) bool {
				return entry == o.Target && (path == o.Binary || o.Binary == "" && path == f.Path)
			}
		}
	}
	p, err := follow.New(in)
	timing.Mark("--follow: call sites decoded")
	if err != nil {
		return err
	}
	job.Follow = p
	if (p.Ifuncs > 0 || indirectCalls(p)) && job.Plan.Space == target.UserSpace && job.Plan.Stack == 0 {
		// An ifunc call is named by the implementation its GOT slot
		// holds, a call through a pointer into another file (a plugin
		// loaded with dlopen) by the function at its target, both
		// placed with the process's memory map: the smallest stack
		// copy makes the session read and follow it.
		job.Plan.Stack = bpfgen.StackChunk
	}
	if line := returnPlacementLine(p, fn); line != "" {
		job.Placement = append(job.Placement, line)
	}
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
	job.Plan.QuietOrphans = true
	if p.Cut != "" {
		job.Notes = append(job.Notes, p.Cut)
	}
	if len(p.Refused) > 0 {
		job.Notes = append(job.Notes, fmt.Sprintf("--follow: the calls made in %d function(s) are not recorded, the kernel refusing kprobes there: %s", len(p.Refused), strings.Join(p.Refused, "; ")))
	}
	if n := len(p.Unprobed); n > 0 {
		why := "the kernel takes no uprobe on their call or return instruction"
		if job.Plan.Space == target.KernelSpace {
			// The same check serves kprobes: stricter than the kernel's, never looser.
			why = "their call or return instruction is one whythefail does not probe (the uprobe rules, which are stricter than kprobes'), or one the kernel rewrites at run time (a static call, jump label, alternative or paravirt site), where no kprobe goes"
		}
		job.Notes = append(job.Notes, fmt.Sprintf("--follow: %d call(s) not recorded: %s (%s)", n, why, strings.Join(p.Unprobed, ", ")))
	}
	return nil
}

// indirectCalls reports whether the plan probes a call through a pointer.
func indirectCalls(p *follow.Plan) bool {
	for _, s := range p.Sites {
		if s.Indirect {
			return true
		}
	}
	return false
}

// scope finds the functions calls through a PLT reach, as the dynamic
// linker would from the traced binary: in it, then in the libraries it
// needs, breadth first (each library's own needs after them).
type scope struct {
	opts   target.Options
	root   *target.File
	libs   []*scopeLib
	ready  bool
	others map[string]*scopeLib // mappedAt's files outside the scope, by path
}

type scopeLib struct {
	file *target.File
	bin  *follow.Binary
	defs map[string]elf.Symbol // the defined functions it exports
	// local is, for a file outside the scope (scope.mappedAt's), it and
	// the libraries it needs: where its PLT calls bind after the scope.
	local []*scopeLib
}

// load opens the scope's libraries, once.
func (s *scope) load() {
	if s.ready {
		return
	}
	s.ready = true
	seen := map[string]bool{s.root.Path: true}
	queue := []*target.File{s.root}
	for n := 0; n < len(queue) && len(s.libs) < maxScope; n++ {
		f := queue[n]
		s.libs = append(s.libs, newScopeLib(f))
		queue = append(queue, s.openNeeded(f, seen)...)
	}
}

// openNeeded opens the libraries f needs (DT_NEEDED) that seen does not
// hold yet, and adds them to seen.
func (s *scope) openNeeded(f *target.File, seen map[string]bool) []*target.File {
	var out []*target.File
	needed, _ := f.ELF.ImportedLibraries()
	for _, so := range needed {
		path, err := f.FindLibrary(so)
		if err != nil {
			continue
		}
		lf, err := target.Open(path, s.opts)
		if err != nil || seen[lf.Path] {
			if lf != nil {
				lf.Close()
			}
			continue
		}
		seen[lf.Path] = true
		out = append(out, lf)
	}
	return out
}

func newScopeLib(f *target.File) *scopeLib {
	l := &scopeLib{file: f, defs: map[string]elf.Symbol{}}
	syms, _ := f.ELF.DynamicSymbols()
	for _, s := range syms {
		t := elf.ST_TYPE(s.Info)
		if s.Section == elf.SHN_UNDEF || (t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC) {
			continue
		}
		// The default version (not hidden) is what an unversioned
		// reference binds to; a hidden one only stands in for it.
		name, _, _ := strings.Cut(s.Name, "@")
		if _, ok := l.defs[name]; !ok || !s.VersionIndex.IsHidden() {
			l.defs[name] = s
		}
	}
	return l
}

// resolve is follow.Input.Import: the first library of the scope that
// defines name, and the function's address there.
func (s *scope) resolve(name string) (*follow.Binary, uint64, error) {
	s.load()
	for _, l := range s.libs {
		sym, ok := l.defs[name]
		if !ok {
			continue
		}
		if elf.ST_TYPE(sym.Info) == elf.STT_GNU_IFUNC {
			return nil, 0, &follow.IfuncError{Lib: filepath.Base(l.file.Path), Path: l.file.Path}
		}
		return l.binary(), sym.Value, nil
	}
	return nil, 0, fmt.Errorf("%s not found in the libraries the binary needs", name)
}

// binary is the library as follow decodes it, made once.
func (l *scopeLib) binary() *follow.Binary {
	if l.bin == nil {
		f := l.file
		l.bin = &follow.Binary{Path: f.Path, File: f, Code: f.Code, FileOffset: f.FileOffset, Symbols: f.Symbols(), PLT: follow.PLTNames(f.ELF),
			Slots: follow.PLTSlots(f.ELF), IfuncPLT: follow.IfuncPLT(f.ELF, f.Debug), BindNow: follow.BindNow(f.ELF)}
	}
	return l.bin
}

// binaryAt is follow.Input.BinaryAt: the library of the scope at path,
// nil when the binary does not need it.
func (s *scope) binaryAt(path string) *follow.Binary {
	s.load()
	for _, l := range s.libs {
		if l.file.Path == path {
			return l.binary()
		}
	}
	return nil
}

// mappedAt is follow.Input.MappedAt: the file at path, which the traced
// process maps (an ifunc's implementation is there): the scope's library,
// else the file opened once (a library loaded another way, LD_PRELOAD or
// dlopen); nil when it cannot be opened.
func (s *scope) mappedAt(path string) *follow.Binary {
	if b := s.binaryAt(path); b != nil {
		return b
	}
	if l, ok := s.others[path]; ok {
		if l == nil {
			return nil
		}
		return l.binary()
	}
	if s.others == nil {
		s.others = map[string]*scopeLib{}
	}
	f, err := target.Open(path, s.opts)
	if err != nil {
		s.others[path] = nil
		return nil
	}
	l := newScopeLib(f)
	s.others[path] = l
	b := l.binary()
	b.Import = func(name string) (*follow.Binary, uint64, error) { return s.resolveFrom(l, name) }
	return b
}

// resolveFrom finds the function a call through the PLT of l, a file
// outside the scope (loaded with dlopen), reaches: as the dynamic linker
// binds it, in the global scope first (resolve), then in l and the
// libraries it needs, breadth first.
func (s *scope) resolveFrom(l *scopeLib, name string) (*follow.Binary, uint64, error) {
	b, addr, err := s.resolve(name)
	var ie *follow.IfuncError
	if err == nil || errors.As(err, &ie) {
		return b, addr, err
	}
	if l.local == nil {
		l.local = s.localScope(l)
	}
	for _, ll := range l.local {
		sym, ok := ll.defs[name]
		if !ok {
			continue
		}
		if elf.ST_TYPE(sym.Info) == elf.STT_GNU_IFUNC {
			return nil, 0, &follow.IfuncError{Lib: filepath.Base(ll.file.Path), Path: ll.file.Path}
		}
		return ll.binary(), sym.Value, nil
	}
	return nil, 0, fmt.Errorf("%s not found in %s nor in the libraries it and the binary need", name, filepath.Base(l.file.Path))
}

// localScope is l and the libraries it needs that the global scope does
// not hold, breadth first, bounded as the scope is.
func (s *scope) localScope(l *scopeLib) []*scopeLib {
	seen := map[string]bool{}
	for _, g := range s.libs {
		seen[g.file.Path] = true
	}
	seen[l.file.Path] = true
	out := []*scopeLib{l}
	for n := 0; n < len(out) && len(out) < maxScope; n++ {
		for _, lf := range s.openNeeded(out[n].file, seen) {
			out = append(out, newScopeLib(lf))
		}
	}
	return out
}
