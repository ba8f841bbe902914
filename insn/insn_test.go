package insn

import (
	"errors"
	"reflect"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

func TestBoundaries(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		want []uint64
	}{
		{"empty", nil, nil},
		{"endbr64 prologue", []byte{
			0xf3, 0x0f, 0x1e, 0xfa, // endbr64
			0x55,             // push %rbp
			0x48, 0x89, 0xe5, // mov %rsp,%rbp
			0x5d, // pop %rbp
			0xc3, // ret
		}, []uint64{0x1000, 0x1004, 0x1005, 0x1008, 0x1009}},
		{"endbr32", []byte{0xf3, 0x0f, 0x1e, 0xfb, 0xc3}, []uint64{0x1000, 0x1004}},
		{"rdpkru wrpkru", []byte{0x0f, 0x01, 0xee, 0x0f, 0x01, 0xef, 0xc3}, []uint64{0x1000, 0x1003, 0x1006}},
		{"padding nops", []byte{
			0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, // data16 cs nopw 0x0(%rax,%rax,1)
			0x0f, 0x1f, 0x44, 0, 0, // nopl 0x0(%rax,%rax,1)
			0x90,       // nop
			0xf3, 0xc3, // repz ret
		}, []uint64{0x1000, 0x100b, 0x1010, 0x1011}},
		{"rip-relative and immediate", []byte{
			0x48, 0x8b, 0x05, 0x11, 0x22, 0x33, 0x44, // mov 0x44332211(%rip),%rax
			0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, // movabs $0x0807060504030201,%rax
			0xc7, 0x44, 0x24, 0xfc, 1, 0, 0, 0, // movl $0x1,-0x4(%rsp)
		}, []uint64{0x1000, 0x1007, 0x1011}},
		{"vex and evex", []byte{
			0xc5, 0xfc, 0x59, 0xc1, // vmulps %ymm1,%ymm0,%ymm0
			0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06, // vmovups (%rsi),%zmm0
			0xc5, 0xf8, 0x77, // vzeroupper
			0xc3, // ret
		}, []uint64{0x1000, 0x1004, 0x100a, 0x100d}},
		// x86asm takes one byte too many for these (found with clang -O2).
		{"vzeroupper vzeroall", []byte{
			0xc5, 0xf8, 0x77, // vzeroupper
			0xc5, 0xfc, 0x77, // vzeroall
			0xc4, 0xe1, 0x78, 0x77, // vzeroupper, 3-byte VEX
			0xc4, 0xc1, 0x7c, 0x77, // vzeroall, 3-byte VEX with REX.B-like bit
			0xc3, // ret
		}, []uint64{0x1000, 0x1003, 0x1006, 0x100a, 0x100e}},
		{"branches", []byte{
			0xe8, 0, 0, 0, 0, // call
			0x74, 0x02, // je
			0x0f, 0x85, 0, 0, 0, 0, // jne rel32
			0x3e, 0xff, 0xe0, // notrack jmp *%rax
		}, []uint64{0x1000, 0x1005, 0x1007, 0x100d}},
	}
	for _, tt := range tests {
		got, err := Boundaries(tt.code, 0x1000)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestBoundariesErrors(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		addr uint64
		want string
	}{
		{"truncated", []byte{0x55, 0x48, 0x89}, 0x401000,
			"decoding x86-64 instruction at 0x401001 (bytes 48 89): instruction runs past the end of the code"},
		{"call cut short", []byte{0xc3, 0xe8, 1, 2}, 0x2000,
			"decoding x86-64 instruction at 0x2001 (bytes e8 01 02): instruction runs past the end of the code"},
		{"unknown 0f 1e", []byte{0x90, 0x0f, 0x1e, 0xc8}, 0x2000,
			"decoding x86-64 instruction at 0x2001 (bytes 0f 1e c8): unrecognized instruction"},
		// rdsspq: x86asm returns the REP prefix alone, with no error.
		{"prefix only", []byte{0xf3, 0x48, 0x0f, 0x1e, 0xc8}, 0x2000,
			"decoding x86-64 instruction at 0x2000 (bytes f3 48 0f 1e c8): prefix without a known opcode"},
		{"endbr64 cut short", []byte{0xf3, 0x0f, 0x1e}, 0x2000,
			"decoding x86-64 instruction at 0x2000 (bytes f3 0f 1e): prefix without a known opcode"},
		{"long bytes are cut at 15", []byte{0x0f, 0x1e, 0xc8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, 0x2000,
			"decoding x86-64 instruction at 0x2000 (bytes 0f 1e c8 01 02 03 04 05 06 07 08 09 0a 0b 0c): unrecognized instruction"},
		{"address overflow", []byte{0x90, 0x90}, ^uint64(0),
			"decoding x86-64 code at 0xffffffffffffffff: 2 bytes run past the end of the address space"},
	}
	for _, tt := range tests {
		got, err := Boundaries(tt.code, tt.addr)
		if err == nil {
			t.Errorf("%s: got %#x, want error %s", tt.name, got, tt.want)
			continue
		}
		if got != nil {
			t.Errorf("%s: got both %#x and an error", tt.name, got)
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, err, tt.want)
		}
	}
	var de *DecodeError
	if _, err := Boundaries([]byte{0x0f, 0x1e, 0xc8}, 0); !errors.As(err, &de) || de.Addr != 0 {
		t.Errorf("error %v is not a *DecodeError at 0", err)
	}
}

func TestIsBoundary(t *testing.T) {
	bounds := []uint64{0x10, 0x14, 0x15, 0x18}
	tests := []struct {
		a    uint64
		want bool
	}{
		{0, false}, {0x10, true}, {0x11, false}, {0x14, true}, {0x15, true},
		{0x17, false}, {0x18, true}, {0x19, false}, {^uint64(0), false},
	}
	for _, tt := range tests {
		if got := IsBoundary(bounds, tt.a); got != tt.want {
			t.Errorf("IsBoundary(%#x) = %v, want %v", tt.a, got, tt.want)
		}
	}
	if IsBoundary(nil, 0) {
		t.Errorf("IsBoundary(nil, 0) = true")
	}
}

func TestEmulated(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		want bool
	}{
		{"call rel32", []byte{0xe8, 1, 2, 3, 4}, true},
		{"jmp rel32", []byte{0xe9, 1, 2, 3, 4}, true},
		{"jmp rel8", []byte{0xeb, 0x10}, true},
		{"je rel8", []byte{0x74, 0x10}, true},
		{"jg rel8", []byte{0x7f, 0x10}, true},
		{"jne rel32", []byte{0x0f, 0x85, 1, 2, 3, 4}, true},
		{"nop", []byte{0x90}, true},
		{"push rbp", []byte{0x55}, true},
		{"push rdi", []byte{0x57}, true},
		{"push r15", []byte{0x41, 0x57}, true},
		{"push r12", []byte{0x41, 0x54}, true},
		{"empty", nil, false},
		{"call truncated", []byte{0xe8, 1, 2}, false},
		{"jne rel32 truncated", []byte{0x0f, 0x85, 1}, false},
		{"jmp rel8 truncated", []byte{0xeb}, false},
		{"mov", []byte{0x48, 0x89, 0xe5}, false},
		{"pop rbp", []byte{0x5d}, false},
		{"ret", []byte{0xc3}, false},
		{"indirect call", []byte{0xff, 0xd0}, false},
		{"call with 66 prefix", []byte{0x66, 0xe8, 1, 2}, false},
		{"push with REX.W", []byte{0x48, 0x55}, false},
		{"push r8 with REX.WB", []byte{0x49, 0x50}, false},
		{"push imm", []byte{0x6a, 0x01}, false},
		{"nopl 5 bytes", []byte{0x0f, 0x1f, 0x44, 0, 0}, false},
		{"xchg r8d eax", []byte{0x41, 0x90}, false},
		{"pause", []byte{0xf3, 0x90}, false},
		{"endbr64", []byte{0xf3, 0x0f, 0x1e, 0xfa}, false},
		{"jrcxz", []byte{0xe3, 0x10}, false},
		{"loop", []byte{0xe2, 0x10}, false},
		{"setne", []byte{0x0f, 0x95, 0xc0}, false},
	}
	for _, tt := range tests {
		if got := Emulated(tt.code); got != tt.want {
			t.Errorf("Emulated(%s: % x) = %v, want %v", tt.name, tt.code, got, tt.want)
		}
	}
}

// TestDecode: endbr64 reads as a NOP, the instructions after it decode at
// their own boundaries, and what x86asm cannot decode keeps its length.
func TestDecode(t *testing.T) {
	code := []byte{
		0xf3, 0x0f, 0x1e, 0xfa, // endbr64
		0x48, 0x89, 0xf8, // mov rax, rdi
		0x0f, 0x01, 0xee, // rdpkru (insn knows it, x86asm does not)
		0xc3, // ret
	}
	ds, err := Decode(code, 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		pc  uint64
		op  x86asm.Op
		len int
		ok  bool
	}
	var got []row
	for _, d := range ds {
		got = append(got, row{d.PC, d.Inst.Op, d.Inst.Len, d.OK})
	}
	want := []row{{0x1000, x86asm.NOP, 4, true}, {0x1004, x86asm.MOV, 3, true}, {0x1007, 0, 3, false}, {0x100a, x86asm.RET, 1, true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %+v, want %+v", got, want)
	}
}
