package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/internal/leb128"
)

// Type is a reference to a type DIE, for navigating types when checking
// and lowering expressions. The zero Type (Has false) is void.
type Type struct {
	Off dwarf.Offset
	Has bool
	d   *Data
	// dims is how many dimensions of the array type at Off have been
	// indexed away: `int a[3][4]` is one array type DIE with two
	// subranges, and a[i] is the array at Off with dims 1, an int[4].
	dims int
}

// Member is a member of a struct, union or class.
type Member struct {
	Name   string
	Offset int64
	Type   Type
	// BitField is set for bit fields, which expressions cannot read yet.
	BitField bool
	// NoOffset is set when the member's location is an expression other
	// than a constant offset: Offset is then unknown.
	NoOffset bool
}

// VarType returns the type of a variable.
func (v *Variable) VarType() Type { return Type{Off: v.TypeOff, Has: v.HasType, d: v.cu.d} }

// Name spells the type as SystemTap does.
func (t Type) Name() string {
	if t.d == nil {
		return "void"
	}
	n, ok := t.d.TypeName(t.Off, t.Has)
	if !ok {
		return "?"
	}
	return n
}

// Info classifies the type.
func (t Type) Info() TypeInfo {
	if t.d == nil {
		return TypeInfo{}
	}
	return t.d.TypeInfo(t.Off, t.Has)
}

// Strip looks through typedefs and const/volatile/restrict/atomic.
func (t Type) Strip() Type {
	if t.dims > 0 {
		return t // a row of an array type, not a typedef
	}
	for i := 0; i < 64 && t.Has && t.d != nil; i++ {
		e := t.d.typeEntry(t.Off)
		if e == nil {
			return t
		}
		switch e.Tag {
		case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, tagAtomicType:
			off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
			t = Type{Off: off, Has: ok, d: t.d}
		default:
			return t
		}
	}
	return t
}

// Tag is the DWARF tag of the stripped type (0 for void).
func (t Type) Tag() dwarf.Tag {
	s := t.Strip()
	if !s.Has || s.d == nil {
		return 0
	}
	if e := s.d.typeEntry(s.Off); e != nil {
		return e.Tag
	}
	return 0
}

// Target returns what a pointer or reference points to, or an array's
// element type (for an array of several dimensions, its rows); ok is
// false for other types.
func (t Type) Target() (Type, bool) {
	s := t.Strip()
	if !s.Has || s.d == nil {
		return Type{}, false
	}
	e := s.d.typeEntry(s.Off)
	if e == nil {
		return Type{}, false
	}
	switch e.Tag {
	case dwarf.TagArrayType:
		if len(s.d.arrayDims(e)) > s.dims+1 {
			return Type{Off: s.Off, Has: true, d: s.d, dims: s.dims + 1}, true
		}
		fallthrough
	case dwarf.TagPointerType, dwarf.TagReferenceType, tagRvalueReference:
		off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		return Type{Off: off, Has: ok, d: s.d}, true
	}
	return Type{}, false
}

// Size is the byte size of the type (through typedefs), 0 if unknown.
func (t Type) Size() int64 {
	s := t.Strip()
	if !s.Has || s.d == nil {
		return 0
	}
	e := s.d.typeEntry(s.Off)
	if e == nil {
		return 0
	}
	switch e.Tag {
	case dwarf.TagPointerType, dwarf.TagReferenceType, tagRvalueReference:
		return 8
	case dwarf.TagArrayType:
		el, _ := t.Target()
		n := s.ArrayLen()
		if n < 0 {
			return 0
		}
		return n * el.Size()
	}
	if n, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
		return n
	}
	return 0
}

// ArrayLen is the element count of an array type, -1 if unknown.
func (t Type) ArrayLen() int64 {
	s := t.Strip()
	if !s.Has || s.d == nil {
		return -1
	}
	e := s.d.typeEntry(s.Off)
	if e == nil || e.Tag != dwarf.TagArrayType {
		return -1
	}
	if dims := s.d.arrayDims(e); s.dims < len(dims) {
		return dims[s.dims]
	}
	return -1
}

// arrayDims returns the element counts of an array type's subranges,
// outermost first; -1 where the count is unknown (int a[]).
func (d *Data) arrayDims(e *dwarf.Entry) []int64 {
	if !e.Children {
		return nil
	}
	r := d.DWARF.Reader()
	r.Seek(e.Offset)
	if _, err := r.Next(); err != nil {
		return nil
	}
	var dims []int64
	for {
		c, err := r.Next()
		if err != nil || c == nil || c.Tag == 0 {
			return dims
		}
		if c.Children {
			r.SkipChildren()
		}
		if c.Tag != dwarf.TagSubrangeType {
			continue
		}
		n := int64(-1)
		if v, ok := c.Val(dwarf.AttrCount).(int64); ok {
			n = v
		} else if u, ok := c.Val(dwarf.AttrUpperBound).(int64); ok {
			n = u + 1
		}
		dims = append(dims, n)
	}
}

// Members lists the members of a struct, union or class type.
func (t Type) Members() ([]Member, error) {
	s := t.Strip()
	if !s.Has || s.d == nil {
		return nil, fmt.Errorf("void is not a struct")
	}
	e := s.d.typeEntry(s.Off)
	if e == nil {
		return nil, fmt.Errorf("unreadable type at %#x", s.Off)
	}
	if e.Tag != dwarf.TagStructType && e.Tag != dwarf.TagUnionType && e.Tag != dwarf.TagClassType {
		return nil, fmt.Errorf("%s is not a struct or union", t.Name())
	}
	if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
		if full, ok := s.d.TypeByName(t.Strip().Name()); ok && full.Off != s.Off {
			return full.Members()
		}
		return nil, fmt.Errorf("%s is only declared here: its members are unknown", t.Name())
	}
	r := s.d.DWARF.Reader()
	r.Seek(e.Offset)
	if _, err := r.Next(); err != nil {
		return nil, err
	}
	var out []Member
	if !e.Children {
		return nil, nil
	}
	for {
		c, err := r.Next()
		if err != nil {
			return nil, err
		}
		if c == nil || c.Tag == 0 {
			break
		}
		if c.Tag == dwarf.TagMember {
			m := Member{}
			m.Name, _ = c.Val(dwarf.AttrName).(string)
			off, ok := c.Val(dwarf.AttrType).(dwarf.Offset)
			m.Type = Type{Off: off, Has: ok, d: s.d}
			switch loc := c.Val(dwarf.AttrDataMemberLoc).(type) {
			case int64:
				m.Offset = loc
			case []byte:
				// DWARF 2 gives the offset as an expression:
				// DW_OP_plus_uconst N.
				m.Offset, m.NoOffset = plusUconst(loc)
			}
			if c.Val(dwarf.AttrBitSize) != nil || c.Val(dwarf.AttrDataBitOffset) != nil {
				m.BitField = true
			}
			out = append(out, m)
		}
		if c.Children {
			r.SkipChildren()
		}
	}
	return out, nil
}

// plusUconst decodes a member location that is DW_OP_plus_uconst N alone;
// bad is set for any other expression.
func plusUconst(expr []byte) (off int64, bad bool) {
	if len(expr) < 2 || expr[0] != dwop.PlusUconst {
		return 0, true
	}
	v, n := leb128.Uint(expr[1:])
	if n == 0 || n > 9 || n+1 != len(expr) || v > 1<<62 {
		return 0, true
	}
	return int64(v), false
}

// Member finds a member by name, looking into anonymous struct and union
// members as C does.
func (t Type) Member(name string) (Member, bool) {
	ms, err := t.Members()
	if err != nil {
		return Member{}, false
	}
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	for _, m := range ms {
		if m.Name == "" {
			if sub, ok := m.Type.Member(name); ok {
				sub.Offset += m.Offset
				sub.NoOffset = sub.NoOffset || m.NoOffset
				return sub, true
			}
		}
	}
	return Member{}, false
}

// MemberNames lists member names, for error messages.
func (t Type) MemberNames() string {
	ms, _ := t.Members()
	var names []string
	for _, m := range ms {
		if m.Name != "" {
			names = append(names, m.Name)
		}
	}
	return strings.Join(names, ", ")
}

// TypeByName finds a type by the name SystemTap would print for it
// ("struct cfg", "int", a typedef name), preferring a complete definition.
func (d *Data) TypeByName(name string) (Type, bool) {
	if d.Partial {
		// The type may be in a unit not indexed: the whole file's
		// index answers, and its Type reads through it.
		if w := d.whole(); w != nil {
			return w.TypeByName(name)
		}
		return Type{}, false
	}
	d.typeNamesOnce.Do(d.indexTypeNames)
	offs := d.typeNames[name]
	var decl Type
	for _, off := range offs {
		e := d.typeEntry(off)
		if e == nil {
			continue
		}
		t := Type{Off: off, Has: true, d: d}
		if isDecl, _ := e.Val(dwarf.AttrDeclaration).(bool); isDecl {
			decl = t
			continue
		}
		return t, true
	}
	return decl, decl.Has
}

func (d *Data) indexTypeNames() {
	d.typeNames = make(map[string][]dwarf.Offset)
	// Partial units (dwz) count only when a compile unit imports them,
	// directly or through other partial units: a supplementary file
	// shared by several programs holds their types too, and another
	// program's struct of the same name may be laid out differently.
	type unit struct {
		partial bool
		imports []dwarf.Offset
		names   []string
		offs    []dwarf.Offset
	}
	units := map[dwarf.Offset]*unit{}
	var order []dwarf.Offset
	var cur *unit
	r := d.DWARF.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
			cur = &unit{partial: e.Tag == dwarf.TagPartialUnit}
			units[e.Offset] = cur
			order = append(order, e.Offset)
		case dwarf.TagImportedUnit:
			if off, ok := e.Val(dwarf.AttrImport).(dwarf.Offset); ok && cur != nil {
				cur.imports = append(cur.imports, off)
			}
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType, dwarf.TagClassType, dwarf.TagTypedef, dwarf.TagBaseType:
			if n, ok := e.Val(dwarf.AttrName).(string); ok && cur != nil {
				if full, ok := d.TypeName(e.Offset, true); ok {
					n = full
				}
				cur.names = append(cur.names, n)
				cur.offs = append(cur.offs, e.Offset)
			}
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit, dwarf.TagNamespace, dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType:
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
	reached := map[dwarf.Offset]bool{}
	var visit func(off dwarf.Offset)
	visit = func(off dwarf.Offset) {
		u := units[off]
		if u == nil || reached[off] {
			return
		}
		reached[off] = true
		for _, imp := range u.imports {
			visit(imp)
		}
	}
	for _, off := range order {
		if !units[off].partial {
			visit(off)
		}
	}
	for _, off := range order {
		if u := units[off]; reached[off] {
			for i, n := range u.names {
				d.typeNames[n] = append(d.typeNames[n], u.offs[i])
			}
		}
	}
}

// Global is a variable with a static address.
type Global struct {
	Name string
	File string // declaration file
	Addr uint64 // link-time address
	Type Type
}

// Globals finds the variables named name with a static address
// (DW_OP_addr), as @var("name") and @var("name@file") need.
func (d *Data) Globals(name string) []Global {
	if d.Partial {
		if w := d.whole(); w != nil {
			return w.Globals(name)
		}
		return nil
	}
	d.globalsOnce.Do(d.indexGlobals)
	return d.globals[name]
}

func (d *Data) indexGlobals() {
	d.globals = make(map[string][]Global)
	r := d.DWARF.Reader()
	var cu *CompUnit
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			cu = d.cuFor(e.Offset + 1)
			if !e.Children {
				continue
			}
			continue
		case dwarf.TagNamespace:
			continue
		case dwarf.TagVariable:
			loc, _ := e.Val(dwarf.AttrLocation).([]byte)
			if addr, ok := staticAddr(d, cu, loc); ok {
				g := Global{Addr: addr}
				v := d.variable(e, cu)
				g.Name = v.Name
				g.Type = v.VarType()
				if df, ok := e.Val(dwarf.AttrDeclFile).(int64); ok && cu != nil && df > 0 {
					g.File = cu.File(int(df))
				} else if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok && cu != nil {
					sr := d.DWARF.Reader()
					sr.Seek(spec)
					if se, err := sr.Next(); err == nil && se != nil {
						if df, ok := se.Val(dwarf.AttrDeclFile).(int64); ok && df > 0 {
							g.File = cu.File(int(df))
						}
						if g.Name == "" {
							g.Name, _ = se.Val(dwarf.AttrName).(string)
						}
						if !g.Type.Has {
							if t, ok := se.Val(dwarf.AttrType).(dwarf.Offset); ok {
								g.Type = Type{Off: t, Has: true, d: d}
							}
						}
					}
				}
				if g.File == "" && cu != nil {
					g.File = cu.Name
				}
				if g.Name != "" {
					d.globals[g.Name] = append(d.globals[g.Name], g)
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// staticAddr decodes a location that is just a static address: DW_OP_addr,
// or clang's DW_OP_addrx through the unit's .debug_addr entries.
func staticAddr(d *Data, cu *CompUnit, loc []byte) (uint64, bool) {
	switch {
	case len(loc) == 9 && loc[0] == dwop.Addr:
		return d.sec.Order.Uint64(loc[1:]), true
	case len(loc) >= 2 && loc[0] == dwop.Addrx && cu != nil && d.debugAddr != nil:
		b := &buf{data: loc, off: 1, order: d.sec.Order, name: "location"}
		idx := b.uleb()
		if b.err != nil || b.off != len(loc) {
			return 0, false
		}
		a, err := d.debugAddr.GetSubsection(cu.addrBase).Get(idx)
		return a, err == nil
	}
	return 0, false
}
