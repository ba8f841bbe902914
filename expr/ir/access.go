package ir

import "fmt"

// Var is one variable to record at a statement.
type Var struct {
	Name string

	// Expr is the DWARF location expression valid at the statement's pc;
	// nil means the compiler gave no location there (printed as "?").
	Expr []byte

	// FrameBase is the DW_AT_frame_base expression of the enclosing
	// subprogram, needed for DW_OP_fbreg.
	FrameBase []byte

	// Size is the number of bytes to read: 1, 2, 4 or 8. Zero means the
	// variable is not a scalar (struct, union, array): nothing is read.
	Size int

	// Signed asks for sign extension of values narrower than 8 bytes.
	Signed bool

	// Steps is an access path applied after the location expression
	// ($c->name, $p[2], $p[$i], *$p, &$v): at most MaxSteps. Size and
	// Signed then describe the object at the end of the path.
	Steps []Step

	// Errno makes the variable the calling thread's errno at the
	// statement (errno()), a 4-byte signed int; Expr and Steps are
	// ignored.
	Errno bool

	// Str, when non-zero, makes the variable a string: the value at the
	// end of the path is a char* (Size is ignored), and up to Str bytes
	// of the NUL-terminated user string it points to are recorded. Str
	// is a multiple of 8 from 8 to MaxStr.
	Str int
}

// Step is one operation of an access path. Evaluating a location expression
// leaves either an address A (the object is in memory) or a value V (a
// register, DW_OP_stack_value, an implicit value); steps move between the
// two. A step that needs an address when there is only a value makes the
// variable unavailable at generation time; a faulting read (a NULL or bad
// pointer) makes it unavailable at run time. Never a wrong value.
type Step interface {
	// String renders the step as C would write it after the variable.
	String() string
	isStep()
}

// StepAdd moves the address by Off bytes: a struct member, or a constant array
// index times the element size. It needs an address.
type StepAdd struct{ Off int64 }

// StepDeref follows a pointer: with an address A, the 8-byte pointer stored at
// A becomes the new address; with a value V, V itself becomes the address.
type StepDeref struct{}

// StepAddrOf turns the address A into the value A (C's &). It needs an address
// and must be the last step.
type StepAddrOf struct{}

func (StepAdd) isStep()    {}
func (StepDeref) isStep()  {}
func (StepAddrOf) isStep() {}

// String renders the offset as "+off".
func (s StepAdd) String() string { return fmt.Sprintf("+%d", s.Off) }

// String renders the dereference as "*".
func (StepDeref) String() string { return "*" }

// String renders the address-of as "&".
func (StepAddrOf) String() string { return "&" }

// Limits of access paths and strings.
const (
	MaxSteps = 8   // steps per variable
	MaxStr   = 256 // bytes of one string variable
)

// StepIndex moves the address by (value of Index + Add) * Scale bytes: an
// array element whose index is another variable ($argv[$i], $a[$n+1]). Index
// is read at the same statement, from its own location, exactly as a
// recorded variable would be (its own access path included); when it cannot
// be read there, the whole variable is unavailable, never read with a
// guessed index. Index must be a scalar (Size 1, 2, 4 or 8, Signed as its
// type; Str 0). Len, when positive, is the number of elements of the array
// indexed: an index outside [0, Len) makes the variable unavailable rather
// than read memory beside the array. Like StepAdd it needs an address.
//
// An index may itself contain an indexed step ($a[$b[$i]]), at most
// MaxIndexNesting levels deep: each level keeps the address being indexed
// in its own stack slot while the index is computed.
type StepIndex struct {
	Index Var
	Add   int64
	Scale int64
	Len   int64
}

func (StepIndex) isStep() {}

// String renders the step as "+[i+add]*scale" (C's pointer arithmetic).
func (s StepIndex) String() string {
	i := s.Index.Name
	if s.Add != 0 {
		i = fmt.Sprintf("%s%+d", i, s.Add)
	}
	return fmt.Sprintf("+[%s]*%d", i, s.Scale)
}

// MaxIndexNesting bounds indexes inside indexes: $a[$i] is one level,
// $a[$b[$i]] two.
const MaxIndexNesting = 2
