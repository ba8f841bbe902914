package tracer

import (
	"strings"
	"sync"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// dwarfReturns types, from the vmlinux's DWARF, the return values of
// kernel functions its BTF does not know (and, from a module's, those of
// the module's functions): a gcc clone
// (link_path_walk.part.0.constprop.0) has no BTF entry, and pahole often
// leaves its original out too. The clone's symbol address is the entry of
// an out-of-line DWARF instance whose abstract origin (link_path_walk)
// carries DW_AT_type; the function index (debuginfo.FuncUnits, from the
// build-id cache) says which unit holds that entry, and only that unit
// is read (debuginfo.LoadUnits), once per name asked.
type dwarfReturns struct {
	k    dwarfBinary
	mu   sync.Mutex
	fu   *debuginfo.FuncUnits
	init bool
	// addrs are the addresses of the symbols named like each, built at
	// the first lookup.
	addrs map[string][]uint64
	known map[string]dwarfRet
}

type dwarfRet struct {
	r  follow.Ret
	ok bool
}

// dwarfBinary is a kernel binary whose DWARF and symbols type returns:
// the vmlinux, or a module.
type dwarfBinary interface {
	DWARFSections() *dwarfsec.Sections
	NeedDWARF() error
	Symbols() []target.Symbol
}

func newDWARFReturns(k dwarfBinary) *dwarfReturns {
	return &dwarfReturns{k: k, known: make(map[string]dwarfRet)}
}

// of returns name's return type: an integer or pointer that the DWARF
// instance beginning at name's only symbol returns; ok is false for any
// other (void, a struct, a name several symbols share, no DWARF, no
// function index).
func (d *dwarfReturns) of(name string) (follow.Ret, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.known[name]; ok {
		return r.r, r.ok
	}
	r, ok := d.lookup(name)
	d.known[name] = dwarfRet{r, ok}
	return r, ok
}

func (d *dwarfReturns) lookup(name string) (follow.Ret, bool) {
	if strings.Contains(name, ".") && cloneOf(name) == name {
		// A clone that may not return what its origin's DW_AT_type
		// says (.isra may drop the return) or of a kind not known.
		return follow.Ret{}, false
	}
	return d.atEntry(name)
}

// atEntry is the return type of the out-of-line DWARF instance beginning
// at name's only symbol.
func (d *dwarfReturns) atEntry(name string) (follow.Ret, bool) {
	sec := d.k.DWARFSections()
	if sec == nil || d.k.NeedDWARF() != nil {
		return follow.Ret{}, false
	}
	if !d.init {
		d.init = true
		if fu, ok := debuginfo.CachedFuncUnits(sec); ok {
			d.fu = fu
		} else if fu, err := debuginfo.TopFuncUnits(sec); err == nil {
			// A trace's resolver puts the index in the cache before
			// this is asked; a caller without it reads the units'
			// top level (a second or two), not the whole file.
			d.fu = fu
		}
		d.addrs = make(map[string][]uint64)
		for _, s := range d.k.Symbols() {
			d.addrs[s.Name] = append(d.addrs[s.Name], s.Value)
		}
	}
	addrs := d.addrs[name]
	if d.fu == nil || len(addrs) != 1 {
		return follow.Ret{}, false
	}
	entry := addrs[0]
	units := d.fu.Select(func(string) bool { return false }, addrs)
	if len(units) == 0 || 2*len(units) > len(d.fu.Units) {
		return follow.Ret{}, false
	}
	data, err := debuginfo.LoadUnits(sec, units)
	if err != nil {
		return follow.Ret{}, false
	}
	var fn *debuginfo.Function
	for _, f := range data.Funcs {
		if f.Inlined || f.Entry != entry {
			continue
		}
		if fn != nil {
			return follow.Ret{}, false // several instances begin there
		}
		fn = f
	}
	if fn == nil || data.ReturnType(fn) == nil {
		return follow.Ret{}, false
	}
	return dwarfScalar(data.FuncReturnInfo(fn))
}

// dwarfScalar is the Ret of an integer or pointer return type.
func dwarfScalar(ti debuginfo.TypeInfo) (follow.Ret, bool) {
	switch {
	case ti.Kind == debuginfo.KindPointer:
		return follow.Ret{Size: 8}, true
	case ti.Kind == debuginfo.KindInt && (ti.Size == 1 || ti.Size == 2 || ti.Size == 4 || ti.Size == 8):
		return follow.Ret{Size: ti.Size, Signed: ti.Signed}, true
	}
	return follow.Ret{}, false
}
