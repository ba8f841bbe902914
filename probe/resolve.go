package probe

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe/listing"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// Point is one resolved probe point.
type Point struct {
	Kind   spec.PointKind
	Suffix spec.Suffix
	Target string // the target prefix, e.g. process("/usr/bin/x")

	// Func is the function instance the point belongs to; nil for a
	// function known only from the ELF symbol table.
	Func *debuginfo.Function
	Name string // function name
	File string // source file, "" when unknown
	Line int    // statement line, or the function's declaration line

	Addr       uint64 // link-time address of the probe
	FileOffset uint64 // file offset for a uprobe
	// Vars are the variables listed with the point (in scope and with a
	// location at Addr), in SystemTap's order.
	Vars []*debuginfo.Variable
	// Scope is the scope tree of Func.
	Scope *debuginfo.Scope
	// ReturnType is listed for .return points of non-void functions.
	ReturnType string

	// texts, when set, are the "$name:type" texts of Vars, kept in
	// their place (Vars and Scope then nil): function points listed
	// (never traced) drop their scopes as they are made, which for every
	// kernel function would hold some 300 MB.
	texts []string
}

// String returns the probe point as stap -l prints it.
func (p *Point) String() string {
	var b strings.Builder
	b.WriteString(p.Target)
	if p.Kind == spec.Statement {
		b.WriteString(".statement(\"")
	} else {
		b.WriteString(".function(\"")
	}
	b.WriteString(p.Name)
	if p.File != "" {
		b.WriteString("@")
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
	}
	b.WriteString("\")")
	switch p.Suffix {
	case spec.Call:
		b.WriteString(".call")
	case spec.Return:
		b.WriteString(".return")
	case spec.Inline:
		b.WriteString(".inline")
	}
	return b.String()
}

// Listing returns the probe point as stap -L prints it: the point followed
// by its variables and their types.
func (p *Point) Listing() string {
	var b strings.Builder
	b.WriteString(p.String())
	if p.ReturnType != "" {
		b.WriteString(" $return:")
		b.WriteString(p.ReturnType)
	}
	for _, t := range p.varTexts() {
		b.WriteString(" ")
		b.WriteString(t)
	}
	return b.String()
}

// varTexts returns the "$name:type" texts of the point's variables.
func (p *Point) varTexts() []string {
	if p.texts != nil {
		return p.texts
	}
	out := make([]string, 0, len(p.Vars))
	for _, v := range p.Vars {
		t, _ := v.TypeName()
		out = append(out, "$"+v.Name+":"+t)
	}
	return out
}

// Resolver resolves specs against one opened target.
type Resolver struct {
	Bin  target.Binary
	Data *debuginfo.Data // nil when the target has no DWARF

	// policy is tracing's or listing's, for the Resolve or List running.
	policy policy
	// rules are SystemTap's listing rules for this target.
	rules *listing.Rules

	// Progress, when set, is told when the whole file is indexed
	// without a cached function index (the first run on a vmlinux takes
	// a while), and when that is done.
	Progress func(msg string)

	bounds map[*debuginfo.Function][]uint64
	// scopes holds the scopes prefetchScopes read for functionPoint.
	scopes map[*debuginfo.Function]*debuginfo.Scope
	// rawDecl caches noDeclFile by DIE offset.
	rawDecl map[dwarf.Offset]bool

	lazyState
}

// NewResolver indexes the target's DWARF, if it has any that can be used
// (NeedDWARF), and puts its function index in the build-id cache for
// NewLazyResolver.
func NewResolver(bin target.Binary) (*Resolver, error) {
	r := newResolver(bin)
	if r.hasDWARF() {
		if err := r.loadWhole(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func newResolver(bin target.Binary) *Resolver {
	return &Resolver{Bin: bin, bounds: make(map[*debuginfo.Function][]uint64), rawDecl: make(map[dwarf.Offset]bool),
		policy: tracing{}, rules: listing.New(bin.SymbolTable)}
}

// loadErr says that the target's DWARF could not be indexed.
func (r *Resolver) loadErr(err error) error {
	return fmt.Errorf("reading debug info of %s: %w", r.Bin.Name(), err)
}

// ErrNoMatch says that a spec matched nothing.
var ErrNoMatch = errors.New("no match")

// NoMatchError explains what did not match and suggests what might; it
// matches ErrNoMatch with errors.Is.
type NoMatchError struct {
	Msg     string
	Nearest []string // the closest names, if any
}

func (e *NoMatchError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrNoMatch) hold.
func (e *NoMatchError) Is(target error) bool { return target == ErrNoMatch }

// Resolve returns the probe points that s names, to attach, sorted as stap
// sorts them: every address is an instruction boundary, and functions
// match by DW_AT_name.
func (r *Resolver) Resolve(s *spec.Spec) ([]*Point, error) { return r.resolveFor(tracing{}, s) }

// List returns the probe points that s names as stap -L lists them (for
// List and -L, never to attach): through SystemTap's listing rules
// (package listing), with line addresses inside instructions listed.
func (r *Resolver) List(s *spec.Spec) ([]*Point, error) { return r.resolveFor(listingPolicy{}, s) }

// resolveFor resolves s under policy p.
func (r *Resolver) resolveFor(p policy, s *spec.Spec) ([]*Point, error) {
	prev := r.policy
	r.policy = p
	defer func() { r.policy = prev }()
	return r.resolve(s)
}

// resolve resolves s under r.policy.
func (r *Resolver) resolve(s *spec.Spec) ([]*Point, error) {
	defer r.waitPut()
	if err := r.checkTarget(s); err != nil {
		return nil, err
	}
	if err := r.ensure(s); err != nil {
		return nil, err
	}
	prefix := r.Bin.ProbePoint()
	var pts []*Point
	var err error
	if s.Point == spec.Statement {
		if r.Data == nil {
			return nil, r.Bin.NeedDWARF()
		}
		pts, err = r.statementPoints(prefix, s)
	} else {
		pts, err = r.functions(prefix, s)
	}
	if err != nil {
		return nil, err
	}
	pts = r.dropBlacklisted(pts)
	if len(pts) == 0 {
		if r.units != nil {
			// Partial: the error suggests names from the whole file.
			if err := r.loadWhole(); err != nil {
				return nil, err
			}
			return r.resolve(s)
		}
		return nil, r.noMatch(s)
	}
	return pts, nil
}

// checkTarget refuses a spec whose target is not the Binary's kind: a
// process("...") spec against a kernel, a kernel.function against a
// program. The names themselves were matched when the Binary was opened.
func (r *Resolver) checkTarget(s *spec.Spec) error {
	want := map[spec.TargetKind]target.Kind{spec.Process: target.KindUser, spec.Kernel: target.KindKernel, spec.Module: target.KindModule}[s.Target]
	if got := r.Bin.Kind(); got != want {
		return fmt.Errorf("%s is a %s target, not a %s one", s, targetWord(s.Target), got)
	}
	return nil
}

func targetWord(k spec.TargetKind) string {
	switch k {
	case spec.Kernel:
		return "kernel"
	case spec.Module:
		return "module"
	}
	return "process"
}

// candidates returns the DWARF function instances whose name and
// declaration file match the spec, in the order SystemTap meets them
// (listing.Rules.Order), without SystemTap's duplicates: one out-of-line function
// per entry address (aliases; the first met wins), no ".part." clones, and
// one inlined instance per (entry, name, declaration). entries holds the
// entry address of every out-of-line function the spec selected, the
// ".part." clones included: SystemTap notes them (alias_dupes) before it
// drops the clones, and lists no symbol-table function there.
func (r *Resolver) candidates(s *spec.Spec) (fns []*debuginfo.Function, entries map[uint64]bool, err error) {
	if r.Data == nil {
		return nil, nil, nil
	}
	var matched []*debuginfo.Function
	for _, fn := range r.Data.Funcs {
		if fn.Name == "" || fn.Entry == 0 {
			continue
		}
		if !r.matchName(s.Func, fn) {
			continue
		}
		if s.File != "" && !r.fileMatches(s.File, fn) {
			continue
		}
		matched = append(matched, fn)
	}
	ordered, err := r.rules.Order(r.Data, matched, r.policy.orderKeys(s))
	if err == nil {
		matched = ordered
	} else if err := r.policy.orderFailed(err); err != nil {
		return nil, nil, err
	}
	var parts map[uint64]bool
	var out []*debuginfo.Function
	seenEntry := make(map[uint64]bool)
	// noted are the entries SystemTap notes (alias_dupes). In the kernel
	// and its modules a function split into hot and cold parts
	// (DW_AT_ranges, no DW_AT_low_pc) is not noted: libdw's entry pc
	// fails for it, so stap lists __rb_reserve_next.constprop.0 beside
	// the DIE __rb_reserve_next, but not ZSTD_freeDDict.part.0 (no cold
	// part) beside ZSTD_freeDDict.
	noted := make(map[uint64]bool)
	type inlKey struct {
		entry uint64
		line  int
		name  string
		file  string
	}
	seenInl := make(map[inlKey]bool)
	for _, fn := range matched {
		if fn.Inlined {
			k := inlKey{fn.Entry, fn.DeclLine, fn.Name, fn.DeclFile}
			if seenInl[k] {
				continue
			}
			seenInl[k] = true
		} else {
			if seenEntry[fn.Entry] {
				continue
			}
			seenEntry[fn.Entry] = true
			if r.Bin.Kind() == target.KindUser || len(fn.Ranges) < 2 {
				noted[fn.Entry] = true
			}
			if parts == nil {
				parts = r.partClones()
			}
			if parts[fn.Entry] {
				continue
			}
		}
		out = append(out, fn)
	}
	return out, noted, nil
}

// matchName matches a function pattern as stap does: against the linkage
// name when the pattern is a mangled C++ name, else against DW_AT_name
// and, when listing, against the names of the function's ELF aliases,
// which SystemTap's function cache holds as keys of the same DIE.
func (r *Resolver) matchName(pattern string, fn *debuginfo.Function) bool {
	if strings.HasPrefix(pattern, "_Z") && fn.LinkageName != "" {
		return spec.MatchFunc(pattern, fn.LinkageName)
	}
	if spec.MatchFunc(pattern, fn.Name) {
		return true
	}
	return !fn.Inlined && r.policy.aliasMatch(r, pattern, fn)
}

// partClones returns the entry addresses of gcc's ".part." clones, which
// SystemTap leaves out.
func (r *Resolver) partClones() map[uint64]bool {
	m := make(map[uint64]bool)
	for _, sym := range r.Bin.Symbols() {
		if strings.Contains(sym.Name, ".part.") {
			m[sym.Value] = true
		}
	}
	return m
}

// fileMatches reports whether SystemTap keeps fn for a file pattern. It
// tests the subprogram's DW_AT_decl_file as libdw reads it: when that
// is missing or 0 (clang's DWARF 5 names the primary file 0, and libdw
// 0.188 takes 0 for "none"), the function is kept whenever any file of its
// unit matches, even though it is listed with the file of its entry row.
// So clang's main-file functions are listed for `function("*@*h.h")`.
func (r *Resolver) fileMatches(pattern string, fn *debuginfo.Function) bool {
	if !fn.DeclFileUnknown && !r.noDeclFile(fn) {
		return spec.MatchFile(pattern, fn.DeclFile)
	}
	for _, f := range fn.CU.Files() {
		if f != "" && spec.MatchFile(pattern, f) {
			return true
		}
	}
	return false
}

// noDeclFile reports whether the DIE of out-of-line function fn, through
// its abstract origins and specifications as libdw's dwarf_attr_integrate
// follows them, has no DW_AT_decl_file other than 0. Inlined instances say
// so already with DeclFileUnknown.
func (r *Resolver) noDeclFile(fn *debuginfo.Function) (none bool) {
	if fn.Inlined {
		return false
	}
	if v, ok := r.rawDecl[fn.Offset]; ok {
		return v
	}
	defer func() {
		if recover() != nil {
			none = false // malformed DWARF: keep the file libdw would give
		}
		r.rawDecl[fn.Offset] = none
	}()
	rd := r.Data.DWARF.Reader()
	off := fn.Offset
	for hops := 0; hops < 8; hops++ {
		rd.Seek(off)
		e, err := rd.Next()
		if err != nil || e == nil {
			return false
		}
		if v, ok := e.Val(dwarf.AttrDeclFile).(int64); ok {
			return v == 0
		}
		next, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			if next, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
				return true
			}
		}
		off = next
	}
	return true
}

// dropBlacklisted leaves out the points blacklisted refuses.
func (r *Resolver) dropBlacklisted(pts []*Point) []*Point {
	out := pts[:0]
	for _, p := range pts {
		if !r.blacklisted(p) {
			out = append(out, p)
		}
	}
	return out
}

// blacklisted reports whether p is a kernel or module point that
// SystemTap's blacklist refuses (listing.Blacklisted) when listing: stap
// -L never lists it, and, never made, it hides no symbol-table function
// at its address.
func (r *Resolver) blacklisted(p *Point) bool {
	if _, listing := r.policy.(listingPolicy); !listing || r.Bin.Kind() == target.KindUser {
		return false
	}
	kp := listing.KernelProbe{Func: p.Name, File: p.File, Return: p.Suffix == spec.Return}
	if r.Bin.Kind() == target.KindKernel {
		if b, ok := r.Bin.(interface{ SectionName(uint64) string }); ok {
			kp.Section = b.SectionName(p.Addr)
		}
		if k, ok := r.Bin.(interface {
			KprobesText() (uint64, uint64, bool)
		}); ok {
			start, end, _ := k.KprobesText()
			kp.InKprobesText = p.Addr >= start && p.Addr < end
		}
	}
	return listing.Blacklisted(kp)
}
