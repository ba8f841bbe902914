package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// Cond is a condition on an invocation, evaluated by the return program. It is
// a small expression tree so that a parser of the user's condition can target
// it; every node evaluates to a signed 64-bit value, and the condition holds
// when the root is non-zero.
type Cond interface {
	// String renders the condition in the user's syntax.
	String() string
	isCond()
}

// Const is an integer literal.
type Const struct{ V int64 }

// Return is the function's return value ($return), sign-extended from
// Spec.RetSize.
type Return struct{}

// Param is the value a parameter had at function entry, taken from the
// argument registers snapshot.
type Param struct {
	Name   string
	Index  int // position among the integer argument registers: 0 (rdi) .. 5 (r9)
	Size   int // 1, 2, 4 or 8; narrower values are extended
	Signed bool
}

// GlobalAddr is the run-time address of a global variable: Addr, its
// link-time address, plus the load bias the entry program recorded
// (Spec.EntryPC). Name is for String.
type GlobalAddr struct {
	Addr uint64
	Name string
}

// Op is a binary operator.
type Op int

// The operators. Comparisons are signed and yield 0 or 1; && and || yield 0
// or 1 and evaluate both sides (evaluation has no side effects).
const (
	OpEq Op = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpLogAnd
	OpLogOr
	OpAdd
	OpSub
	OpBitAnd
	OpBitOr
	OpMul
	OpXor
	OpShl
	OpShr // arithmetic (signed), as stap's >> on its 64-bit integers
)

var opNames = [...]string{"==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "&", "|", "*", "^", "<<", ">>"}

// String gives the operator as the user writes it.
func (o Op) String() string {
	if int(o) >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// BinOp applies Op to L and R.
type BinOp struct {
	Op   Op
	L, R Cond
}

func (Const) isCond()      {}
func (Return) isCond()     {}
func (Param) isCond()      {}
func (BinOp) isCond()      {}
func (GlobalAddr) isCond() {}

// String renders the address as &@var("name").
func (g GlobalAddr) String() string { return fmt.Sprintf("&@var(%q)", g.Name) }

// String renders the literal in decimal.
func (c Const) String() string { return fmt.Sprint(c.V) }

// String renders $return.
func (Return) String() string { return "$return" }

// String renders the parameter as $name.
func (p Param) String() string { return "$" + p.Name }

// String parenthesises the operation so nesting is unambiguous.
func (b BinOp) String() string { return fmt.Sprintf("(%v %v %v)", b.L, b.Op, b.R) }

// Pid is the process id (tgid) of the invocation: stap's pid().
type Pid struct{}

// Tid is the thread id of the invocation: stap's tid().
type Tid struct{}

// Uid is the real user id of the current task: stap's uid().
type Uid struct{}

// Randint is a pseudo-random integer in [0, N): stap's randint(N). N must be
// positive; the source is bpf_get_prandom_u32, so bounds above 2^32 do not
// make larger values.
type Randint struct{ N int64 }

// CommEq is 1 when the current task's name equals S exactly, else 0: stap's
// execname() == S. Task names hold at most 15 bytes, so a longer S never
// matches.
type CommEq struct{ S string }

// UserStrEq is 1 when the NUL-terminated user string at the address Ptr
// evaluates to (typically a Param) equals S, else 0 (also when it cannot be
// read): stap's user_string(ptr) == S. S holds at most MaxCondStr bytes.
type UserStrEq struct {
	Ptr Cond
	S   string
}

// MaxCondStr bounds the string a condition compares user memory with: the
// comparison buffer lives on the 512-byte BPF stack.
const MaxCondStr = 246

// UnaryOp is a prefix operator.
type UnaryOp int

// The prefix operators: logical not (0 or 1), negation, bitwise complement.
const (
	UnNot UnaryOp = iota
	UnNeg
	UnBitNot
)

var unaryNames = [...]string{"!", "-", "~"}

// String gives the operator as the user writes it.
func (o UnaryOp) String() string {
	if int(o) >= 0 && int(o) < len(unaryNames) {
		return unaryNames[o]
	}
	return fmt.Sprintf("unary(%d)", int(o))
}

// Unary applies a prefix operator to X.
type Unary struct {
	Op UnaryOp
	X  Cond
}

func (Pid) isCond()       {}
func (Tid) isCond()       {}
func (Uid) isCond()       {}
func (Randint) isCond()   {}
func (CommEq) isCond()    {}
func (UserStrEq) isCond() {}
func (Unary) isCond()     {}

// String renders pid().
func (Pid) String() string { return "pid()" }

// String renders tid().
func (Tid) String() string { return "tid()" }

// String renders uid().
func (Uid) String() string { return "uid()" }

// String renders randint(N).
func (r Randint) String() string { return fmt.Sprintf("randint(%d)", r.N) }

// String renders the comparison as stap would read it.
func (c CommEq) String() string { return fmt.Sprintf("(execname() == %s)", quote(c.S)) }

// String renders the comparison as stap would read it.
func (c UserStrEq) String() string {
	return fmt.Sprintf("(user_string(%v) == %s)", c.Ptr, quote(c.S))
}

// String renders the operator before its operand.
func (u Unary) String() string { return fmt.Sprintf("%v%v", u.Op, u.X) }

// quote renders a string literal with stap's (C's) escapes for the
// characters that need them.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			b.WriteString(`\` + strconv.FormatInt(int64(c)+01000, 8)[1:])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Load reads Size bytes of user memory at the value of Addr plus Off, at
// return: stap's $param->member, *$param and $param[i] in conditions, where
// the parameter is its value at entry and the memory is read when the
// function returns. A read that faults makes the whole condition false in
// the return program (elsewhere it yields 0).
type Load struct {
	Addr   Cond
	Off    int64
	Size   int
	Signed bool
	Text   string // the user's spelling, for String
}

func (Load) isCond() {}

// String renders the expression as the user wrote it.
func (l Load) String() string {
	if l.Text != "" {
		return l.Text
	}
	return fmt.Sprintf("*(%v + %d)", l.Addr, l.Off)
}

// Errno is the calling thread's errno: in the return program when the
// function returns, in a statement program at the statement.
type Errno struct{}

func (Errno) isCond() {}

// String renders errno().
func (Errno) String() string { return "errno()" }
