package bpfgen

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/asm"
)

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

// Stack space of the return program for string comparisons, below the
// expression stack and the piece accumulator.
const (
	fpCondBuf  = fpStrPtr - 8 - condBufLen // start of the comparison buffer
	condBufLen = MaxCondStr + 2
)

// compileCommEq leaves in R0 whether the task name is s. The kernel pads the
// name with NULs to 16 bytes, so two 8-byte compares against s padded the
// same way decide it.
func compileCommEq(e *emitter, s string) {
	if len(s) > 15 || strings.IndexByte(s, 0) >= 0 {
		e.emit(asm.Mov.Imm(asm.R0, 0))
		return
	}
	var want [16]byte
	copy(want[:], s)
	no, done := e.newLabel("commno"), e.newLabel("commdone")
	e.stackPtr(asm.R1, fpCondBuf)
	e.emit(asm.Mov.Imm(asm.R2, 16), asm.FnGetCurrentComm.Call(), asm.JNE.Imm(asm.R0, 0, no))
	for i := 0; i < 2; i++ {
		e.emit(asm.LoadMem(asm.R1, asm.RFP, int16(fpCondBuf+8*i), asm.DWord))
		e.loadConst(asm.R2, int64(binary.LittleEndian.Uint64(want[8*i:])))
		e.emit(asm.JNE.Reg(asm.R1, asm.R2, no))
	}
	e.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(done))
	e.mark(no)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	e.mark(done)
}

// compileUserStrEq leaves in R0 whether the user string at c.Ptr is c.S.
// bpf_probe_read_user_str stops at the NUL and returns the length with it, or
// fills the whole buffer, truncating with a NUL of its own; reading
// len(S)+2 bytes tells an exact match (length len(S)+1) from a longer string
// that starts with S.
func compileUserStrEq(e *emitter, c UserStrEq, n int) error {
	if len(c.S) > MaxCondStr {
		return fmt.Errorf("string of %d bytes: at most %d can be compared", len(c.S), MaxCondStr)
	}
	if err := compileCond(e, c.Ptr, n); err != nil {
		return err
	}
	if strings.IndexByte(c.S, 0) >= 0 {
		e.emit(asm.Mov.Imm(asm.R0, 0))
		return nil
	}
	no, done := e.newLabel("strno"), e.newLabel("strdone")
	e.stackPtr(asm.R1, fpCondBuf)
	e.emit(asm.Mov.Imm(asm.R2, int32(len(c.S)+2)),
		asm.LoadMem(asm.R3, asm.RFP, slot(n), asm.DWord),
		e.probeReadStr().Call())
	if e.condFault != "" {
		// The pointer cannot be read: the condition cannot be evaluated.
		e.emit(asm.JSLT.Imm(asm.R0, 0, e.condFault))
	}
	e.emit(asm.JNE.Imm(asm.R0, int32(len(c.S)+1), no))
	for i := 0; i < len(c.S); {
		var sz asm.Size
		var w int
		switch rest := len(c.S) - i; {
		case rest >= 8:
			sz, w = asm.DWord, 8
		case rest >= 4:
			sz, w = asm.Word, 4
		case rest >= 2:
			sz, w = asm.Half, 2
		default:
			sz, w = asm.Byte, 1
		}
		var chunk [8]byte
		copy(chunk[:], c.S[i:i+w])
		e.emit(asm.LoadMem(asm.R1, asm.RFP, int16(fpCondBuf+i), sz))
		e.loadConst(asm.R2, int64(binary.LittleEndian.Uint64(chunk[:])))
		e.emit(asm.JNE.Reg(asm.R1, asm.R2, no))
		i += w
	}
	e.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(done))
	e.mark(no)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	e.mark(done)
	return nil
}
