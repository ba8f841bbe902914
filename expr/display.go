package expr

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/probe/spec"
)

// StepKind is one step of an access path, applied after a variable's
// location: see Step.
type StepKind int

const (
	// StepAdd adds Off to the address of an object in memory (a member, a
	// constant array index).
	StepAdd StepKind = iota
	// StepDeref follows a pointer: the object's address becomes the
	// pointer stored there (or, for a value in a register, the value).
	StepDeref
	// StepAddrOf makes the object's address the value (&x).
	StepAddrOf
	// StepIndex adds (the value of Index + Off) * Scale to the address of
	// an object in memory: an element at a variable index ($a[$i+1]).
	StepIndex
)

// Step is one step of an access path.
type Step struct {
	Kind StepKind
	Off  int64
	// Index is what a StepIndex reads at the same statement: a scalar
	// leaf of integer type. Scale is the element size; Len, when
	// positive, the array's length, beyond which the element prints "?".
	Index *Leaf
	Scale int64
	Len   int64
}

// Leaf is one value to read at a statement: a variable's location (or a
// global's address), an access path, and how many bytes to read. Leaves are
// what the BPF generator reads; ir.Display trees say how to print them.
type Leaf struct {
	Var    *debuginfo.Variable // base variable, nil for a global
	Addr   uint64              // a global's link-time address
	Global bool
	// Loc is the base variable's location expression at the statement;
	// Unavailable is set when it has none there: prints "?".
	Loc         []byte
	Unavailable bool
	Steps       []Step
	Size        int
	Signed      bool
	// Str > 0 reads a NUL-terminated string of at most Str bytes from the
	// pointer the path ends with.
	Str int
	// Errno reads the calling thread's errno (errno()) instead of a
	// variable: a 4-byte signed int.
	Errno bool
}

// StrMax is how many bytes of a string are read.
const StrMax = 64

// Scope is what a VARIABLE expression can name at one statement.
type Scope struct {
	Data *debuginfo.Data
	// GOT, when set, gives the GOT slot through which the binary reaches
	// a global (target.File.GOTSlot): @var then reads the variable where
	// the slot points, which is where it really lives when an executable
	// holds a copy of a shared library's variable.
	GOT     func(name string, addr uint64) (uint64, bool)
	InScope []*debuginfo.Variable // visible at the statement, innermost first
	All     []*debuginfo.Variable // every variable of the function
	PC      uint64

	// FrameBase is the function's DW_AT_frame_base expression, which
	// the generator needs for DW_OP_fbreg.
	FrameBase []byte
	// BeforePrologue is set at statements before the end of the
	// prologue, where a parameter is read from its argument register
	// (Params gives which) rather than from its DWARF location.
	BeforePrologue bool
	Params         map[string]ir.Param
	// Addrx rewrites the .debug_addr-indexed operations of a location
	// expression (the generator's ResolveAddrx); nil leaves the
	// variable without a location.
	Addrx func(loc []byte, index func(uint64) (uint64, error)) ([]byte, error)
}

type displayer struct {
	in    string
	sc    Scope
	leafs []Leaf
}

func (d *displayer) errf(n Node, format string, a ...any) error {
	return &Error{"variable", d.in, n.Col(), fmt.Sprintf(format, a...)}
}

// chain is an lvalue being lowered: a base and an access path, of type t.
type chain struct {
	leaf  Leaf
	t     debuginfo.Type
	ptrTo *debuginfo.Type // set for &x: a pointer to this type
}

// Display lowers a VARIABLE expression at one statement into what to print
// (ir.Display trees) and the leaves to read, in the order the trees consume
// them. Mistakes that do not depend on the statement (unknown variables,
// members of non-structs, bad types) are errors.
//
// The values come back as the generator reads them (ir.Var): each leaf's
// location at the statement with its access path, one per value the
// ir.Display trees consume.
func Display(input string, n Node, sc Scope) ([]ir.Display, []ir.Var, error) {
	out, leaves, err := display(input, n, sc)
	if err != nil {
		return nil, nil, err
	}
	var vars []ir.Var
	for _, l := range leaves {
		vars = append(vars, sc.read(l))
	}
	return out, vars, nil
}

// display is Display before its leaves are turned into what the generator
// reads.
func display(input string, n Node, sc Scope) ([]ir.Display, []Leaf, error) {
	d := &displayer{in: input, sc: sc}
	var out []ir.Display
	pretty, deep := false, false
	if p, ok := n.(*Pretty); ok {
		pretty, deep = true, p.Deep
		n = p.X
	}
	if vs, ok := n.(*VarSet); ok {
		for _, v := range sc.InScope {
			if vs.Kind == "parms" && !v.Param || vs.Kind == "locals" && v.Param {
				continue
			}
			c := d.base(v)
			rv, err := d.value(n, c, pretty, deep, false, 0)
			if err != nil {
				return nil, nil, err
			}
			rv.Name = v.Name
			out = append(out, rv)
		}
		return out, d.leafs, nil
	}
	if call, ok := n.(*Call); ok && call.Fn == "errno" {
		if len(call.Args) != 0 {
			return nil, nil, d.errf(call, "errno() takes no arguments")
		}
		return []ir.Display{{Format: "dec", Size: 4}}, []Leaf{{Errno: true, Size: 4, Signed: true}}, nil
	}
	c, err := d.lower(n)
	if err != nil {
		return nil, nil, err
	}
	rv, err := d.value(n, c, pretty, deep, true, 0)
	if err != nil {
		return nil, nil, err
	}
	return []ir.Display{rv}, d.leafs, nil
}

// base starts a chain at a variable, as located at the statement.
func (d *displayer) base(v *debuginfo.Variable) chain {
	l := Leaf{Var: v}
	if e, ok, err := v.LocationAt(d.sc.PC); err != nil || !ok {
		l.Unavailable = true
	} else {
		l.Loc = e
	}
	return chain{leaf: l, t: v.VarType()}
}

func (d *displayer) lookup(n *Var) (*debuginfo.Variable, bool, error) {
	for _, v := range d.sc.InScope {
		if v.Name == n.Name {
			return v, true, nil
		}
	}
	for _, v := range d.sc.All {
		if v.Name == n.Name {
			return v, false, nil
		}
	}
	seen := map[string]bool{}
	var names []string
	for _, v := range d.sc.All {
		if v.Name != "" && !seen[v.Name] {
			seen[v.Name] = true
			names = append(names, "$"+v.Name)
		}
	}
	sort.Strings(names)
	if n.Name == "return" {
		return nil, false, d.errf(n, "$return is only known when the function returns: use it in CONDITION")
	}
	return nil, false, d.errf(n, "unknown variable $%s; the function's variables are %s", n.Name, strings.Join(names, " "))
}

func (d *displayer) lower(n Node) (chain, error) {
	switch n := n.(type) {
	case *Var:
		v, here, err := d.lookup(n)
		if err != nil {
			return chain{}, err
		}
		c := d.base(v)
		if !here {
			c.leaf.Unavailable = true
		}
		return c, nil
	case *AtVar:
		g, err := findGlobal(d.sc.Data, n)
		if err != nil {
			return chain{}, d.errf(n, "%v", err)
		}
		if d.sc.GOT != nil {
			if slot, ok := d.sc.GOT(n.Name, g.Addr); ok {
				return chain{leaf: Leaf{Global: true, Addr: slot, Steps: []Step{{Kind: StepDeref}}}, t: g.Type}, nil
			}
		}
		return chain{leaf: Leaf{Global: true, Addr: g.Addr}, t: g.Type}, nil
	case *Member:
		c, err := d.lower(n.X)
		if err != nil {
			return chain{}, err
		}
		if c.ptrTo != nil {
			return chain{}, d.errf(n, "-> on an address (&...) is not supported")
		}
		t := c.t
		switch t.Tag() {
		case dwarf.TagPointerType, dwarf.TagReferenceType:
			target, _ := t.Target()
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepDeref})
			t = target
		}
		switch t.Tag() {
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagClassType:
		default:
			return chain{}, d.errf(n, "member %s of %s, which is not a struct, a union or a pointer to one", n.Field, c.t.Name())
		}
		m, ok := t.Member(n.Field)
		if !ok {
			return chain{}, d.errf(n, "%s has no member %s; its members are %s", t.Name(), n.Field, t.MemberNames())
		}
		if m.BitField {
			return chain{}, d.errf(n, "member %s is a bit field, which cannot be read yet", n.Field)
		}
		if m.NoOffset {
			return chain{}, d.errf(n, "member %s has a location expression whythefail cannot evaluate", n.Field)
		}
		c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepAdd, Off: m.Offset})
		c.t = m.Type
		return c, nil
	case *Index:
		c, err := d.lower(n.X)
		if err != nil {
			return chain{}, err
		}
		i, isConst := constOf(n.I)
		var idx indexExpr
		if !isConst {
			if idx, err = d.index(n.I); err != nil {
				return chain{}, err
			}
		}
		el, ok := c.t.Target()
		if !ok || c.ptrTo != nil {
			return chain{}, d.errf(n, "index into %s, which is not an array or a pointer", c.t.Name())
		}
		size := el.Size()
		if size <= 0 {
			return chain{}, d.errf(n, "elements of %s have no known size", c.t.Name())
		}
		length := int64(0)
		if c.t.Tag() != dwarf.TagArrayType {
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepDeref})
		} else if l := c.t.ArrayLen(); l >= 0 && isConst && (i < 0 || i >= l) {
			return chain{}, d.errf(n.I, "index %d is outside %s's %d elements", i, c.t.Name(), l)
		} else if l > 0 {
			length = l
		}
		if isConst {
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepAdd, Off: i * size})
		} else {
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepIndex, Index: &idx.leaf, Off: idx.add, Scale: size, Len: length})
		}
		c.t = el
		return c, nil
	case *Unary:
		switch n.Op {
		case "*":
			c, err := d.lower(n.X)
			if err != nil {
				return chain{}, err
			}
			if c.ptrTo != nil {
				t := *c.ptrTo
				c.ptrTo = nil
				c.leaf.Steps = c.leaf.Steps[:len(c.leaf.Steps)-1]
				c.t = t
				return c, nil
			}
			if c.t.Tag() != dwarf.TagPointerType && c.t.Tag() != dwarf.TagReferenceType {
				return chain{}, d.errf(n, "* on %s, which is not a pointer", c.t.Name())
			}
			target, _ := c.t.Target()
			if !target.Has {
				return chain{}, d.errf(n, "* on a void pointer: use @cast")
			}
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepDeref})
			c.t = target
			return c, nil
		case "&":
			c, err := d.lower(n.X)
			if err != nil {
				return chain{}, err
			}
			if c.ptrTo != nil {
				return chain{}, d.errf(n, "& of an address")
			}
			t := c.t
			c.ptrTo = &t
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepAddrOf})
			return c, nil
		}
		return chain{}, d.errf(n, "operator %s in VARIABLE is not supported; name a variable, a member or an element", n.Op)
	case *Cast:
		c, err := d.lower(n.X)
		if err != nil {
			return chain{}, err
		}
		t, ok := d.sc.Data.TypeByName(n.Type)
		if !ok {
			return chain{}, d.errf(n, "unknown type %q (write it as stap lists it, e.g. \"struct cfg\")", n.Type)
		}
		if c.ptrTo != nil {
			// @cast(&x, "T"): the object at x's address, seen as T.
			c.leaf.Steps = c.leaf.Steps[:len(c.leaf.Steps)-1]
			c.ptrTo = nil
		} else {
			c.leaf.Steps = append(c.leaf.Steps, Step{Kind: StepDeref})
		}
		c.t = t
		return c, nil
	case *Pretty:
		return chain{}, d.errf(n, "$ (pretty printing) goes at the end of the expression")
	case *VarSet:
		return chain{}, d.errf(n, "$$%s cannot be combined with other operators", n.Kind)
	}
	return chain{}, d.errf(n, "VARIABLE must name something to read: a $variable, a member, an element, @var, @cast or errno()")
}

// findGlobal finds the global that @var names: by name, and by file when
// it says one (@var("name@file.c")).
func findGlobal(data *debuginfo.Data, n *AtVar) (debuginfo.Global, error) {
	gs := data.Globals(n.Name)
	for _, g := range gs {
		if n.File == "" || spec.MatchFile(n.File, g.File) {
			return g, nil
		}
	}
	if n.File != "" && len(gs) > 0 {
		var files []string
		for _, g := range gs {
			files = append(files, g.File)
		}
		return debuginfo.Global{}, fmt.Errorf("no global %s in %s; it is defined in %s", n.Name, n.File, strings.Join(files, ", "))
	}
	return debuginfo.Global{}, fmt.Errorf("no global variable named %s with a static address", n.Name)
}

func constOf(n Node) (int64, bool) {
	switch n := n.(type) {
	case *Num:
		return n.V, true
	case *Unary:
		if v, ok := constOf(n.X); ok && n.Op == "-" {
			return -v, true
		}
	}
	return 0, false
}

// value turns a chain into what to print. decimal selects stap's plain
// formatting of a single expression (integers in decimal); in $$vars
// integers print in hex. Pretty printing expands structs and prints char
// pointers and arrays as strings; deep also follows pointers to structs.
func (d *displayer) value(n Node, c chain, pretty, deep, decimal bool, depth int) (ir.Display, error) {
	if len(d.leafs) > 48 {
		return ir.Display{}, d.errf(n, "too many values to read at one statement (the limit is 48)")
	}
	addLeaf := func(format string, size int, signed bool, str int) ir.Display {
		l := c.leaf
		l.Steps = append([]Step(nil), c.leaf.Steps...)
		l.Size, l.Signed, l.Str = size, signed, str
		d.leafs = append(d.leafs, l)
		return ir.Display{Format: format, Size: size}
	}
	if c.ptrTo != nil {
		return addLeaf("ptr", 8, false, 0), nil
	}
	t := c.t
	ti := t.Info()
	isChar := func(t debuginfo.Type) bool {
		s := t.Strip()
		return s.Has && s.Info().Kind == debuginfo.KindInt && s.Size() == 1 && (strings.Contains(s.Name(), "char"))
	}
	switch ti.Kind {
	case debuginfo.KindInt:
		if ti.Size < 1 || ti.Size > 8 || ti.Size&(ti.Size-1) != 0 {
			return ir.Display{Format: "other"}, nil
		}
		f := map[[2]bool]string{{false, false}: "uint", {false, true}: "int", {true, false}: "udec", {true, true}: "dec"}[[2]bool{decimal || depth > 0, ti.Signed}]
		return addLeaf(f, ti.Size, ti.Signed, 0), nil
	case debuginfo.KindPointer:
		target, _ := t.Target()
		if pretty && isChar(target) {
			return addLeaf("string", 8, false, StrMax), nil
		}
		if deep && depth == 0 {
			switch target.Tag() {
			case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagClassType:
				c2 := c
				c2.leaf.Steps = append(append([]Step(nil), c.leaf.Steps...), Step{Kind: StepDeref})
				c2.t = target
				return d.value(n, c2, true, false, decimal, depth+1)
			}
		}
		return addLeaf("ptr", 8, false, 0), nil
	case debuginfo.KindStruct:
		if !pretty || depth > 2 {
			return ir.Display{Format: "struct"}, nil
		}
		ms, err := t.Members()
		if err != nil {
			return ir.Display{Format: "struct"}, nil
		}
		g := ir.Display{Format: "group"}
		for _, m := range ms {
			if m.Name == "" || m.BitField || m.NoOffset {
				continue
			}
			c2 := c
			c2.leaf.Steps = append(append([]Step(nil), c.leaf.Steps...), Step{Kind: StepAdd, Off: m.Offset})
			c2.t = m.Type
			mv, err := d.value(n, c2, pretty, deep, decimal, depth+1)
			if err != nil {
				return ir.Display{}, err
			}
			mv.Name = m.Name
			g.Children = append(g.Children, mv)
		}
		return g, nil
	case debuginfo.KindArray:
		el, _ := t.Target()
		if pretty && isChar(el) {
			c2 := c
			c2.leaf.Steps = append(append([]Step(nil), c.leaf.Steps...), Step{Kind: StepAddrOf})
			n := int(t.ArrayLen())
			if n <= 0 || n > StrMax {
				n = StrMax
			}
			max := n
			n = (n + 7) &^ 7
			c = c2
			rv := addLeaf("string", 8, false, n)
			rv.Max = max // the read is rounded up to 8 bytes; the array is not
			return rv, nil
		}
		return ir.Display{Format: "array"}, nil
	}
	return ir.Display{Format: "other"}, nil
}
