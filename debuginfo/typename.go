package debuginfo

import (
	"debug/dwarf"
	"strings"
)

// Type tags debug/dwarf does not name.
const (
	tagAtomicType      dwarf.Tag = 0x47
	tagRvalueReference dwarf.Tag = 0x42
)

// TypeKind classifies a type for reading and printing values.
type TypeKind int

const (
	KindOther   TypeKind = iota // unnameable or unknown
	KindInt                     // integers, characters, booleans, enums
	KindFloat                   // floating point
	KindPointer                 // pointers and references
	KindStruct                  // structures, unions, classes
	KindArray
	KindFunc
)

// TypeInfo is what tracing needs of a type once typedefs and qualifiers
// are looked through.
type TypeInfo struct {
	Kind   TypeKind
	Size   int
	Signed bool
	// Elem is the pointed-to or element type's info, one level deep.
	ElemName string
	ElemSize int
}

// typeEntry reads the DIE at off, cached.
func (d *Data) typeEntry(off dwarf.Offset) *dwarf.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.types[off]; ok {
		return e
	}
	r := d.DWARF.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil {
		e = nil
	}
	d.types[off] = e
	return e
}

// TypeName spells the type at off as SystemTap does: qualifiers after what
// they qualify ("char const*"), "[]" for arrays whatever their bounds,
// "struct NAME" or "struct {...}", typedef names as they are, and function
// types as "RET (DECLARATOR) (PARAMS)". ok is false for a type SystemTap
// cannot name (atomic, unspecified, pointer to member), whose variables it
// does not list.
func (d *Data) TypeName(off dwarf.Offset, has bool) (name string, ok bool) {
	if !has {
		return "void", true
	}
	return d.typeName(off, "", 0)
}

func (d *Data) typeName(off dwarf.Offset, mods string, depth int) (string, bool) {
	if depth > 64 {
		return "", false
	}
	e := d.typeEntry(off)
	if e == nil {
		return "", false
	}
	inner := func(m string) (string, bool) {
		t, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if !ok {
			return "void" + m, true
		}
		return d.typeName(t, m, depth+1)
	}
	name, _ := e.Val(dwarf.AttrName).(string)
	switch e.Tag {
	case dwarf.TagBaseType, dwarf.TagTypedef:
		return name + mods, name != ""
	case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType, dwarf.TagClassType:
		kw := map[dwarf.Tag]string{dwarf.TagStructType: "struct", dwarf.TagUnionType: "union",
			dwarf.TagEnumerationType: "enum", dwarf.TagClassType: "class"}[e.Tag]
		if name == "" {
			name = "{...}"
		}
		return kw + " " + name + mods, true
	case dwarf.TagPointerType:
		if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			if te := d.typeEntry(t); te != nil && te.Tag == dwarf.TagStructType {
				if n, _ := te.Val(dwarf.AttrName).(string); n == "__va_list_tag" {
					return "va_list" + mods, true
				}
			}
		}
		return inner("*" + mods)
	case dwarf.TagArrayType:
		return inner("[]" + mods)
	case dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType:
		if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok && e.Tag == dwarf.TagConstType {
			if te := d.typeEntry(t); te != nil && (te.Tag == dwarf.TagReferenceType || te.Tag == tagRvalueReference) {
				return inner(mods)
			}
		}
		q := map[dwarf.Tag]string{dwarf.TagConstType: " const", dwarf.TagVolatileType: " volatile",
			dwarf.TagRestrictType: " restrict"}[e.Tag]
		return inner(q + mods)
	case dwarf.TagReferenceType:
		return inner("&" + mods)
	case tagRvalueReference:
		return inner("&&" + mods)
	case dwarf.TagSubroutineType:
		ret, ok := inner("")
		if !ok {
			return "", false
		}
		params, ok := d.paramList(e, depth)
		if !ok {
			return "", false
		}
		return ret + " (" + mods + ") (" + params + ")", true
	}
	return "", false
}

// paramList spells the parameter types of a subroutine type.
func (d *Data) paramList(e *dwarf.Entry, depth int) (string, bool) {
	if !e.Children {
		return "void", true
	}
	r := d.DWARF.Reader()
	r.Seek(e.Offset)
	if _, err := r.Next(); err != nil {
		return "", false
	}
	var ps []string
	for {
		c, err := r.Next()
		if err != nil {
			return "", false
		}
		if c == nil || c.Tag == 0 {
			break
		}
		switch c.Tag {
		case dwarf.TagFormalParameter:
			t, ok := c.Val(dwarf.AttrType).(dwarf.Offset)
			if !ok {
				ps = append(ps, "void")
				break
			}
			n, ok := d.typeName(t, "", depth+1)
			if !ok {
				return "", false
			}
			ps = append(ps, n)
		case dwarf.TagUnspecifiedParameters:
			ps = append(ps, "...")
		}
		if c.Children {
			r.SkipChildren()
		}
	}
	if len(ps) == 0 {
		return "void", true
	}
	return strings.Join(ps, ", "), true
}

// TypeInfo looks through typedefs and qualifiers to classify the type at
// off for reading and printing.
func (d *Data) TypeInfo(off dwarf.Offset, has bool) TypeInfo {
	if !has {
		return TypeInfo{}
	}
	for depth := 0; depth < 64; depth++ {
		e := d.typeEntry(off)
		if e == nil {
			return TypeInfo{}
		}
		size, _ := e.Val(dwarf.AttrByteSize).(int64)
		switch e.Tag {
		case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, tagAtomicType:
			t, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
			if !ok {
				return TypeInfo{}
			}
			off = t
			continue
		case dwarf.TagBaseType:
			enc, _ := e.Val(dwarf.AttrEncoding).(int64)
			ti := TypeInfo{Kind: KindInt, Size: int(size)}
			switch enc {
			case 0x04: // DW_ATE_float
				ti.Kind = KindFloat
			case 0x05, 0x06, 0x0d: // signed, signed_char, signed_fixed
				ti.Signed = true
			case 0x02, 0x07, 0x08, 0x10: // boolean, unsigned, unsigned_char, UTF
			default:
				ti.Kind = KindOther
			}
			return ti
		case dwarf.TagEnumerationType:
			ti := TypeInfo{Kind: KindInt, Size: int(size)}
			if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
				ti.Signed = d.TypeInfo(t, true).Signed
			}
			return ti
		case dwarf.TagPointerType, dwarf.TagReferenceType, tagRvalueReference:
			ti := TypeInfo{Kind: KindPointer, Size: 8}
			if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
				ti.ElemName, _ = d.typeName(t, "", 0)
				ti.ElemSize = d.TypeInfo(t, true).Size
			} else {
				ti.ElemName = "void"
			}
			return ti
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagClassType:
			return TypeInfo{Kind: KindStruct, Size: int(size)}
		case dwarf.TagArrayType:
			return TypeInfo{Kind: KindArray}
		case dwarf.TagSubroutineType:
			return TypeInfo{Kind: KindFunc}
		default:
			return TypeInfo{}
		}
	}
	return TypeInfo{}
}
