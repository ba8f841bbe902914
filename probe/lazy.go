package probe

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// NewLazyResolver returns a resolver that indexes the target's DWARF at
// its first Resolve (Data is nil until then), and, when the build-id cache
// holds the debug file's function index (debuginfo.FuncUnits), only the
// compilation units that the spec's function pattern can select: by name,
// by linkage name, through the ELF aliases SystemTap files functions under,
// or at the address of a symbol the pattern names. The points are those a
// full index gives; a spec that needs the whole file (listing functions,
// which SystemTap checks against every unit's symbols), a later spec that
// selects other units, and a spec that matches nothing (whose error
// suggests names from the whole file) load it whole. Without a cached
// index, a kernel's is read from the top level of its units
// (debuginfo.TopFuncUnits: a second or two for a vmlinux, against the
// tens of seconds of a whole index) and put in the cache; other targets
// load the whole file and put its index in the cache for the next run.
func NewLazyResolver(bin target.Binary) *Resolver {
	r := newResolver(bin)
	r.lazy = true
	return r
}

// lazyState is what a lazy resolver knows of its index.
type lazyState struct {
	lazy   bool // Data is built at the first Resolve
	loaded bool // Data is built (partial or whole)
	// units are the units a partial Data holds; nil when it is whole.
	units map[dwarf.Offset]bool
	index *debuginfo.FuncUnits
	// topScanned says index was built by this resolver from the top
	// level of the units (topIndex), not read from the cache.
	topScanned bool
	// putDone is closed when topIndex's index is in the cache.
	putDone chan struct{}
	// dieAddrs are the cached DIESymbolAddrs of a kernel or module
	// target (cachedDIEAddrs), nil until read.
	dieAddrs map[uint64]bool
}

// ensure builds Data for resolving s, as NewLazyResolver says.
func (r *Resolver) ensure(s *spec.Spec) error {
	if !r.lazy || (r.loaded && r.units == nil) {
		return nil
	}
	if !r.hasDWARF() {
		r.loaded = true
		return nil
	}
	if units := r.unitsFor(s); units != nil {
		if r.loaded && covers(r.units, units) {
			return nil
		}
		if !r.loaded {
			// Units that refer out of themselves (dwarfsec.ErrCrossUnit)
			// need the whole file; so does any other failure, which the
			// whole file's index then reports if it is the file's.
			if d, err := debuginfo.LoadUnits(r.Bin.DWARFSections(), units); err == nil {
				r.Data, r.loaded = d, true
				r.units = make(map[dwarf.Offset]bool, len(units))
				for _, u := range units {
					r.units[u] = true
				}
				return nil
			}
		}
	}
	return r.loadWhole()
}

// hasDWARF reports whether the target has DWARF that can be indexed.
func (r *Resolver) hasDWARF() bool {
	return r.Bin.DWARFSections() != nil && r.Bin.NeedDWARF() == nil
}

// loadWhole indexes the whole file, replacing a partial index, and puts
// the function index in the cache when it was not there.
func (r *Resolver) loadWhole() error {
	if r.Progress != nil && (r.index == nil || r.topScanned) {
		if fu, ok := debuginfo.CachedFuncUnits(r.Bin.DWARFSections()); ok && !r.topScanned {
			r.index = fu
		} else {
			r.Progress(fmt.Sprintf("indexing the debug info of %s once; the build-id cache keeps the index for the next runs", r.Bin.ProbePoint()))
			start := time.Now()
			defer func() {
				r.Progress(fmt.Sprintf("indexed %s in %.1f s", r.Bin.ProbePoint(), time.Since(start).Seconds()))
			}()
		}
	}
	d, err := debuginfo.Load(r.Bin.DWARFSections())
	if err != nil {
		return r.loadErr(err)
	}
	r.Data, r.loaded, r.units = d, true, nil
	// Sections merged with a dwz supplementary file have no identity to
	// cache under: Cached and Put do nothing for them.
	if r.index == nil {
		if fu, ok := debuginfo.CachedFuncUnits(r.Bin.DWARFSections()); ok {
			r.index = fu
		} else {
			_ = debuginfo.PutFuncUnits(d)
		}
	}
	return nil
}

// unitsFor returns the units that can hold the functions s selects, nil
// when s needs the whole file or no cached index says.
func (r *Resolver) unitsFor(s *spec.Spec) []dwarf.Offset {
	if s.Func == "" {
		return nil
	}
	if s.Point != spec.Statement && (s.Point != spec.Function || (r.policy.wholeFile(s) && !r.partialFunctions())) {
		return nil
	}
	if r.index == nil {
		fu, ok := debuginfo.CachedFuncUnits(r.Bin.DWARFSections())
		if !ok {
			if fu, ok = r.topIndex(); !ok {
				return nil
			}
		}
		r.index = fu
	}
	match := func(name string) bool { return spec.MatchFunc(s.Func, name) }
	// Every symbol at the address of a symbol the pattern names: the
	// DIEs named like them take the pattern's name as an alias key
	// (listing.Rules.AliasKeys), and a DIE at that address is what tracing an alias
	// finds.
	// Both tables: SystemTap's (listing.Rules.AliasKeys) and the binary's symbols
	// (sorted by address), which tracing's aliases come from.
	t := r.rules.Symtab()
	syms := r.Bin.Symbols()
	matches := func(n string) bool {
		bare, _, _ := strings.Cut(n, "@")
		return match(n) || match(bare)
	}
	var addrs []uint64
	if t != nil {
		for i, n := range t.Names {
			if matches(n) {
				addrs = append(addrs, t.Addrs[i])
			}
		}
	}
	for _, sym := range syms {
		if matches(sym.Name) {
			addrs = append(addrs, sym.Value)
		}
	}
	aliases := make(map[string]bool)
	alias := func(n string) {
		bare, _, _ := strings.Cut(n, "@")
		aliases[n], aliases[bare] = true, true
	}
	for _, a := range addrs {
		if t != nil {
			for _, i := range t.ByAddr[a] {
				alias(t.Names[i])
			}
		}
		for i := sort.Search(len(syms), func(i int) bool { return syms[i].Value >= a }); i < len(syms) && syms[i].Value == a; i++ {
			alias(syms[i].Name)
		}
	}
	units := r.index.Select(func(name string) bool { return match(name) || aliases[name] }, addrs)
	if len(units) == 0 || 2*len(units) > len(r.index.Units) {
		// Nothing matches (the error names the nearest of all), or
		// most units do: the whole file is as cheap.
		return nil
	}
	return units
}

// topIndex builds the function index of a kernel from the top level of
// its units (debuginfo.TopFuncUnits), without indexing any, and puts it
// in the build-id cache: a first run on a vmlinux then indexes only the
// units a pattern selects, as later runs do. User-space targets, and
// modules (relocatable: their DWARF is read through debug/elf, which
// LoadUnits refuses), are indexed whole the first time instead.
func (r *Resolver) topIndex() (*debuginfo.FuncUnits, bool) {
	if r.Bin.Kind() != target.KindKernel {
		return nil, false
	}
	sec := r.Bin.DWARFSections()
	start := time.Now()
	if r.Progress != nil {
		r.Progress(fmt.Sprintf("reading the function names of %s once; the build-id cache keeps them for the next runs", r.Bin.ProbePoint()))
	}
	fu, err := debuginfo.TopFuncUnits(sec)
	if err != nil {
		return nil, false
	}
	if r.Progress != nil {
		r.Progress(fmt.Sprintf("read the function names of %s in %.1f s", r.Bin.ProbePoint(), time.Since(start).Seconds()))
	}
	r.topScanned = true
	// Written while the units it selects are indexed; resolve waits
	// for it before it returns.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = debuginfo.PutTopFuncUnits(sec, fu)
	}()
	r.putDone = done
	return fu, true
}

// waitPut waits for topIndex's write to the build-id cache, if any.
func (r *Resolver) waitPut() {
	if r.putDone != nil {
		<-r.putDone
	}
}

// covers reports whether the loaded units include every one of units.
func covers(loaded map[dwarf.Offset]bool, units []dwarf.Offset) bool {
	for _, u := range units {
		if !loaded[u] {
			return false
		}
	}
	return true
}

// partialFunctions reports whether a function listing can index only the
// units its pattern selects: for a kernel or module target whose
// DIESymbolAddrs the build-id cache holds, the one thing SystemTap reads
// from every unit for it (the first function listing, which indexes the
// whole file, puts them there: hideSymbols).
func (r *Resolver) partialFunctions() bool {
	_, ok := r.cachedDIEAddrs()
	return ok
}
