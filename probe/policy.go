package probe

import (
	"strings"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// policy is what differs between resolving points to trace (Resolve) and
// to list (List). Tracing attaches: it refuses an address inside an
// instruction and matches functions by DW_AT_name. Listing follows
// SystemTap's listing rules (package listing) to print what stap -L
// prints.
type policy interface {
	// orderKeys returns which names of a unit's function cache the
	// spec selects (listing.Rules.Order's keyMatch), or nil.
	orderKeys(s *spec.Spec) func(string) bool
	// orderFailed says what an unreadable unit in the visiting order
	// does: nil to keep DIE order, or the error to return.
	orderFailed(err error) error
	// aliasMatch reports whether pattern names one of the ELF aliases
	// of the out-of-line function fn.
	aliasMatch(r *Resolver, pattern string, fn *debuginfo.Function) bool
	// hideSymbols adds to probed the addresses whose symbols are not
	// listed besides the DWARF functions (entries: the entry of every
	// out-of-line function the spec selected).
	hideSymbols(r *Resolver, entries, probed map[uint64]bool) error
	// pointHides reports whether a DWARF function's point hides a symbol
	// at its address.
	pointHides() bool
	// sortSymbols orders the symbol-table functions (sorted by address)
	// as they are met.
	sortSymbols(r *Resolver, syms []target.Symbol)
	// checksBoundaries reports whether a point must be at an instruction
	// boundary.
	checksBoundaries() bool
	// wholeFile reports whether s needs the whole file's index.
	wholeFile(s *spec.Spec) bool
}

// tracing resolves the points to attach.
type tracing struct{}

func (tracing) orderKeys(*spec.Spec) func(string) bool { return nil }

// orderFailed keeps DIE order: tracing names one function, and stap's
// visiting order only decides which of several claims a shared address,
// so an unreadable unit is no reason to fail.
func (tracing) orderFailed(error) error { return nil }

// aliasMatch matches DW_AT_name only, so the function tracing picks and
// its statement spec (built from that name) stay as they were.
func (tracing) aliasMatch(*Resolver, string, *debuginfo.Function) bool { return false }
func (tracing) hideSymbols(*Resolver, map[uint64]bool, map[uint64]bool) error {
	return nil
}
func (tracing) pointHides() bool                       { return false }
func (tracing) sortSymbols(*Resolver, []target.Symbol) {}

// checksBoundaries: a uprobe inside an instruction would corrupt it.
func (tracing) checksBoundaries() bool    { return true }
func (tracing) wholeFile(*spec.Spec) bool { return false }

// listingPolicy resolves the points to list, as stap -L lists them.
type listingPolicy struct{}

// orderKeys: a function takes the place of its first cache entry under a
// name the pattern selects (one of its ELF aliases, maybe).
func (listingPolicy) orderKeys(s *spec.Spec) func(string) bool {
	if strings.HasPrefix(s.Func, "_Z") {
		return nil
	}
	return func(key string) bool { return spec.MatchFunc(s.Func, key) }
}

func (listingPolicy) orderFailed(err error) error { return err }

// aliasMatch names functions through their ELF aliases as stap does
// (listing.Rules.AliasKeys): function("__GI_munmap") lists the DIE
// "munmap" and function("malloc") the DIE "__libc_malloc".
func (listingPolicy) aliasMatch(r *Resolver, pattern string, fn *debuginfo.Function) bool {
	for _, a := range r.rules.AliasKeys(fn) {
		if spec.MatchFunc(pattern, a) {
			return true
		}
	}
	return false
}

// hideSymbols: as stap lists them, no symbol row at the entry of a
// selected ".part." clone, nor at a function update_symtab tied to a DIE.
func (listingPolicy) hideSymbols(r *Resolver, entries, probed map[uint64]bool) error {
	for a := range entries {
		probed[a] = true
	}
	// A partial index of a kernel or module (partialFunctions) takes
	// the addresses from the whole file's, cached; so does a whole one
	// when the cache has them (a kernel or module listed before).
	dieAddrs, ok := r.cachedDIEAddrs()
	if !ok {
		var err error
		if dieAddrs, err = r.rules.DIESymbolAddrs(r.Data); err != nil {
			return err
		}
		if r.units == nil {
			r.putDIEAddrs(dieAddrs)
		}
	}
	for a := range dieAddrs {
		probed[a] = true
	}
	return nil
}

// pointHides: query_symtab_func_info skips a symbol at the address of a
// probe already made (PR29676): an inlined instance entering a .cold part
// hides the .cold symbol, unless the suffix drops the instance.
func (listingPolicy) pointHides() bool { return true }

func (listingPolicy) sortSymbols(r *Resolver, syms []target.Symbol) { r.rules.SortSymbols(syms) }

// checksBoundaries: a line address inside an instruction is listed as
// stap lists it (glibc's pthread_spin_lock.S has a row at the byte after
// a lock prefix).
func (listingPolicy) checksBoundaries() bool { return false }

// wholeFile: listing functions checks every unit's symbols, as SystemTap
// does.
func (listingPolicy) wholeFile(s *spec.Spec) bool { return s.Point == spec.Function }
