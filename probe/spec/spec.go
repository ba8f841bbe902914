package spec

// TargetKind says what a probe point's target is.
type TargetKind int

const (
	Process TargetKind = iota // process("PATH")
	Kernel                    // kernel
	Module                    // module("NAME")
)

// PointKind is the kind of probe point within the target.
type PointKind int

const (
	Function  PointKind = iota // .function("PATTERN")
	Statement                  // .statement("PATTERN")
)

// Suffix is the optional suffix after the point: .call, .return or .inline.
type Suffix int

const (
	NoSuffix Suffix = iota
	Call
	Return
	Inline
)

// LineKind says what the LINE part of a pattern holds.
type LineKind int

const (
	NoLine    LineKind = iota // no :LINE given
	AnyLine                   // :*
	OneLine                   // :N
	LineRange                 // :N-M
)

// Lines is the LINE part of FUNC@FILE:LINE.
type Lines struct {
	Kind     LineKind
	From, To int // inclusive; From == To for OneLine
}

// Contains reports whether line n matches.
func (l Lines) Contains(n int) bool {
	switch l.Kind {
	case NoLine, AnyLine:
		return true
	default:
		return n >= l.From && n <= l.To
	}
}

// Spec is a parsed probe-point specification.
type Spec struct {
	Target TargetKind
	Path   string // process path or module name; empty for Kernel
	Point  PointKind
	Func   string // glob
	File   string // glob; empty when no @FILE was given
	Lines  Lines
	Suffix Suffix

	// Columns (1-based, in bytes) of the first byte of each part inside its
	// quotes, for error messages about the spec; 0 when the part is absent.
	PathCol, FuncCol, FileCol, LineCol int
}
