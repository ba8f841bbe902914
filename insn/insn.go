package insn

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"
)

// DecodeError says that the bytes at Addr are not an instruction the decoder
// knows. Boundaries stops there rather than guess a length, because a wrong
// guess would place later probes inside instructions and corrupt the target.
type DecodeError struct {
	Addr  uint64
	Bytes []byte // up to 15 bytes from Addr, for the message
	Err   error  // the decoder's error, or nil when it decoded only a prefix
}

// Error names the address and the bytes so the instruction can be looked up.
func (e *DecodeError) Error() string {
	why := "unknown instruction"
	if e.Err != nil {
		why = e.Err.Error()
	}
	return fmt.Sprintf("decoding x86-64 instruction at %#x (bytes % x): %s", e.Addr, e.Bytes, why)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// fixed lists exact encodings that x86asm gets wrong or does not know, so
// they are recognised before decoding. endbr64 and endbr32 matter most:
// x86asm decodes them as a lone REP prefix of length 1, which would put a
// "boundary" inside the first instruction of every CET-enabled function.
// rdpkru and wrpkru occur in glibc (pkey_get, pkey_set).
var fixed = [][]byte{
	{0xf3, 0x0f, 0x1e, 0xfa}, // endbr64
	{0xf3, 0x0f, 0x1e, 0xfb}, // endbr32
	{0x0f, 0x01, 0xee},       // rdpkru
	{0x0f, 0x01, 0xef},       // wrpkru
}

// maxInsnLen is the architectural limit on an x86 instruction's length.
const maxInsnLen = 15

// Boundaries decodes code, the bytes of one function loaded at virtual
// address addr, and returns the address of every instruction start in
// increasing order. It returns an error naming the address of the first
// instruction it cannot decode, or of a last instruction that runs past the
// end of code; it never guesses.
func Boundaries(code []byte, addr uint64) ([]uint64, error) {
	if uint64(len(code)) > ^uint64(0)-addr {
		return nil, fmt.Errorf("decoding x86-64 code at %#x: %d bytes run past the end of the address space", addr, len(code))
	}
	var out []uint64
	for off := 0; off < len(code); {
		n, err := length(code[off:])
		if err != nil {
			end := min(off+maxInsnLen, len(code))
			return nil, &DecodeError{Addr: addr + uint64(off), Bytes: bytes.Clone(code[off:end]), Err: err}
		}
		out = append(out, addr+uint64(off))
		off += n
	}
	return out, nil
}

// errNoOpcode stands for x86asm's silent failure mode: it returns a
// one-byte "instruction" made of a prefix and no opcode, with no error.
var errNoOpcode = errors.New("prefix without a known opcode")

// errTruncated says the last instruction needs bytes past the end of code,
// which for a whole function means its size or start address is wrong.
var errTruncated = errors.New("instruction runs past the end of the code")

// length returns the length of the instruction at the start of code.
func length(code []byte) (int, error) {
	for _, m := range fixed {
		if bytes.HasPrefix(code, m) {
			return len(m), nil
		}
	}
	if n := vzero(code); n > 0 {
		return n, nil
	}
	inst, err := x86asm.Decode(code, 64)
	if errors.Is(err, x86asm.ErrTruncated) {
		return 0, errTruncated
	}
	if err != nil {
		return 0, err
	}
	if inst.Op == 0 || inst.Len <= 0 || inst.Len > len(code) {
		// x86asm also reports a prefix alone when the code simply ends too
		// early; padding tells the two apart.
		if len(code) < maxInsnLen {
			padded := append(bytes.Clone(code), make([]byte, maxInsnLen)...)
			if full, err := x86asm.Decode(padded, 64); err == nil && full.Op != 0 && full.Len > len(code) {
				return 0, errTruncated
			}
		}
		return 0, errNoOpcode
	}
	return inst.Len, nil
}

// vzero returns the length of a vzeroupper or vzeroall (VEX 0F 77, pp=00)
// at the start of code, or 0. x86asm decodes them with a phantom ModRM byte,
// one byte too long, which hides the RET that usually follows: clang -O2
// ends every AVX function that way.
func vzero(code []byte) int {
	switch {
	case len(code) >= 3 && code[0] == 0xc5 && code[1]&0x03 == 0 && code[2] == 0x77:
		return 3
	case len(code) >= 4 && code[0] == 0xc4 && code[1]&0x1f == 0x01 && code[2]&0x03 == 0 && code[3] == 0x77:
		return 4
	}
	return 0
}

// IsBoundary reports whether a is in bounds, which must be sorted in
// increasing order as Boundaries returns it.
func IsBoundary(bounds []uint64, a uint64) bool {
	i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= a })
	return i < len(bounds) && bounds[i] == a
}

// Emulated reports whether the kernel's x86 uprobe code emulates the
// instruction at the start of code instead of single-stepping a copy of it.
// Emulation avoids a second trap, so a probe there costs about a tenth as
// much (see NOTES.md); callers may prefer such addresses when they have a
// choice.
//
// It is conservative: true only for encodings that both Linux 6.1 and
// current kernels emulate (arch/x86/kernel/uprobes.c, branch_setup_xol_ops
// and push_setup_xol_ops), and false for anything else, including forms the
// newest kernels also emulate (multi-byte NOPs, branches with prefixes):
//
//   - call rel32 (e8), jmp rel8/rel32 (eb, e9), jcc rel8 (70–7f) and
//     jcc rel32 (0f 80–8f), without prefixes;
//   - the one-byte nop (90);
//   - push of a general register (50–57, or 41 50–57 for r8–r15).
func Emulated(code []byte) bool {
	if len(code) == 0 {
		return false
	}
	op := code[0]
	switch {
	case op == 0xe8 || op == 0xe9:
		return len(code) >= 5
	case op == 0xeb || op >= 0x70 && op <= 0x7f:
		return len(code) >= 2
	case op == 0x0f:
		return len(code) >= 6 && code[1] >= 0x80 && code[1] <= 0x8f
	case op == 0x90:
		return true
	case op >= 0x50 && op <= 0x57:
		return true
	case op == 0x41:
		return len(code) >= 2 && code[1] >= 0x50 && code[1] <= 0x57
	}
	return false
}

// Inst is one instruction of a function's code as Decode gives it.
type Inst struct {
	PC   uint64      // its link-time address
	Inst x86asm.Inst // decoded; only Len is set when OK is false
	// OK says x86asm decoded it (endbr64 reads as a NOP); false for the
	// other encodings that Boundaries knows better than x86asm.
	OK bool
}

// Decode decodes code, the bytes of one function at link-time address
// addr, instruction by instruction at the boundaries Boundaries finds.
func Decode(code []byte, addr uint64) ([]Inst, error) {
	bounds, err := Boundaries(code, addr)
	if err != nil {
		return nil, err
	}
	out := make([]Inst, 0, len(bounds))
	for k, b := range bounds {
		end := addr + uint64(len(code))
		if k+1 < len(bounds) {
			end = bounds[k+1]
		}
		bs := code[b-addr : end-addr]
		d, err := x86asm.Decode(bs, 64)
		it := Inst{PC: b, Inst: d, OK: err == nil && d.Len == len(bs)}
		switch {
		case bytes.Equal(bs, fixed[0]): // endbr64: a landing pad, nothing else
			it.Inst, it.OK = x86asm.Inst{Op: x86asm.NOP, Len: len(bs)}, true
		case !it.OK:
			it.Inst = x86asm.Inst{Len: len(bs)}
		}
		out = append(out, it)
	}
	return out, nil
}
