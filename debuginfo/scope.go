package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"sort"
)

// Scope is a lexical scope of a function instance: the function itself, a
// lexical block, or an inlined call within it.
type Scope struct {
	Ranges   [][2]uint64
	Vars     []*Variable // in DIE order
	Children []*Scope
	// Inlined is set when this scope is an inlined instance of another
	// function, nested inside the one being examined.
	Inlined *Function
}

// Variable is a parameter or local variable.
type Variable struct {
	Name       string
	Param      bool
	Artificial bool
	TypeOff    dwarf.Offset // DW_AT_type; meaningful when HasType
	HasType    bool
	DeclLine   int
	Offset     dwarf.Offset
	Origin     dwarf.Offset // DW_AT_abstract_origin, or 0
	// Const is set for variables that have DW_AT_const_value and no location.
	Const any

	loc any // []byte (exprloc), locList, or nil
	cu  *CompUnit
}

// locList is a reference to a location list.
type locList struct {
	offset int64
	index  bool // DW_FORM_loclistx: offset is an index to resolve
}

// TypeName spells the variable's type as SystemTap does; ok is false when
// SystemTap cannot name it (and so does not list the variable).
func (v *Variable) TypeName() (string, bool) {
	return v.cu.d.TypeName(v.TypeOff, v.HasType)
}

// TypeInfo classifies the variable's type for reading its value.
func (v *Variable) TypeInfo() TypeInfo {
	return v.cu.d.TypeInfo(v.TypeOff, v.HasType)
}

// Scope reads the scope tree of a function instance.
func (d *Data) Scope(fn *Function) (s *Scope, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("reading DWARF of %s: malformed (%v)", fn.Name, r)
		}
	}()
	r := d.DWARF.Reader()
	r.Seek(fn.Offset)
	e, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("reading DWARF of %s: %w", fn.Name, err)
	}
	if e == nil {
		return nil, fmt.Errorf("reading DWARF of %s: no DIE at %#x", fn.Name, fn.Offset)
	}
	root := &Scope{Ranges: fn.Ranges}
	if !e.Children {
		return root, nil
	}
	if err := d.readScope(r, root, fn.CU); err != nil {
		return nil, fmt.Errorf("reading DWARF of %s: %w", fn.Name, err)
	}
	return root, nil
}

// readScope reads the children of the DIE just returned by r into s.
func (d *Data) readScope(r *dwarf.Reader, s *Scope, cu *CompUnit) error {
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		switch e.Tag {
		case dwarf.TagFormalParameter, dwarf.TagVariable:
			if v := d.variable(e, cu); v != nil {
				s.Vars = append(s.Vars, v)
			}
			if e.Children {
				r.SkipChildren()
			}
		case dwarf.TagLexDwarfBlock, dwarf.TagInlinedSubroutine:
			child := &Scope{}
			rs, err := d.DWARF.Ranges(e)
			if err == nil {
				sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
				child.Ranges = rs
			}
			if e.Tag == dwarf.TagInlinedSubroutine {
				child.Inlined = d.funcAt(e.Offset)
			}
			if e.Children {
				if err := d.readScope(r, child, cu); err != nil {
					return err
				}
			}
			s.Children = append(s.Children, child)
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

func (d *Data) funcAt(off dwarf.Offset) *Function {
	i := sort.Search(len(d.Funcs), func(i int) bool { return d.Funcs[i].Offset >= off })
	if i < len(d.Funcs) && d.Funcs[i].Offset == off {
		return d.Funcs[i]
	}
	return nil
}

// variable builds a Variable from its DIE, following DW_AT_abstract_origin
// for the name, type and declaration line.
func (d *Data) variable(e *dwarf.Entry, cu *CompUnit) *Variable {
	v := &Variable{Param: e.Tag == dwarf.TagFormalParameter, Offset: e.Offset, cu: cu}
	var typeOff dwarf.Offset
	haveType := false
	apply := func(e *dwarf.Entry) dwarf.Offset {
		var origin dwarf.Offset
		for _, f := range e.Field {
			switch f.Attr {
			case dwarf.AttrName:
				if v.Name == "" {
					v.Name, _ = f.Val.(string)
				}
			case dwarf.AttrType:
				if !haveType {
					typeOff, haveType = f.Val.(dwarf.Offset)
				}
			case dwarf.AttrDeclLine:
				if v.DeclLine == 0 {
					n, _ := f.Val.(int64)
					v.DeclLine = int(n)
				}
			case dwarf.AttrArtificial:
				if b, _ := f.Val.(bool); b {
					v.Artificial = true
				}
			case dwarf.AttrConstValue:
				if v.Const == nil {
					v.Const = f.Val
				}
			case dwarf.AttrAbstractOrigin:
				origin, _ = f.Val.(dwarf.Offset)
			}
		}
		return origin
	}
	origin := apply(e)
	v.Origin = origin
	for hops := 0; origin != 0 && hops < 4; hops++ {
		r := d.DWARF.Reader()
		r.Seek(origin)
		oe, err := r.Next()
		if err != nil || oe == nil {
			break
		}
		origin = apply(oe)
	}
	for _, f := range e.Field {
		if f.Attr != dwarf.AttrLocation {
			continue
		}
		switch f.Class {
		case dwarf.ClassExprLoc, dwarf.ClassBlock:
			v.loc, _ = f.Val.([]byte)
		case dwarf.ClassLocListPtr:
			off, _ := f.Val.(int64)
			v.loc = locList{offset: off}
		case dwarf.ClassLocList:
			// debug/dwarf gives DW_FORM_loclistx as a uint64 index.
			switch x := f.Val.(type) {
			case uint64:
				v.loc = locList{offset: int64(x), index: true}
			case int64:
				v.loc = locList{offset: x, index: true}
			}
		}
	}
	v.TypeOff, v.HasType = typeOff, haveType
	return v
}

func (d *Data) typeAt(off dwarf.Offset) (t dwarf.Type, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("malformed type at %#x", off)
		}
	}()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.DWARF.Type(off)
}

// VarsAt lists the variables visible at pc within the scope tree, innermost
// scope first and, within a scope, in declaration order; as SystemTap does,
// the walk stops at an inlined call's scope (its variables belong to the
// inlined function, not to this one) unless root itself is that call.
func (s *Scope) VarsAt(pc uint64) []*Variable {
	var chain []*Scope
	var walk func(sc *Scope)
	walk = func(sc *Scope) {
		chain = append(chain, sc)
		for _, c := range sc.Children {
			if c.Inlined != nil {
				continue
			}
			if inRanges(c.Ranges, pc) {
				walk(c)
				return
			}
		}
	}
	walk(s)
	var out []*Variable
	for i := len(chain) - 1; i >= 0; i-- {
		out = append(out, chain[i].Vars...)
	}
	return out
}

// AllVars lists every variable of the scope tree outside inlined calls, in
// DIE order.
func (s *Scope) AllVars() []*Variable {
	out := append([]*Variable(nil), s.Vars...)
	for _, c := range s.Children {
		if c.Inlined == nil {
			out = append(out, c.AllVars()...)
		}
	}
	return out
}
