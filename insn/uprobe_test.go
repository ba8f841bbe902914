package insn

import "testing"

// TestUprobeable: the prefixes and opcodes the kernel refuses, and the
// common instructions after a call that it accepts.
func TestUprobeable(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		want bool
	}{
		{"mov %eax,%ebx", []byte{0x89, 0xc3}, true},
		{"test %rax,%rax", []byte{0x48, 0x85, 0xc0}, true},
		{"call rel32", []byte{0xe8, 0, 0, 0, 0}, true},
		{"call *%rax", []byte{0xff, 0xd0}, true},
		{"endbr64", []byte{0xf3, 0x0f, 0x1e, 0xfa}, true},
		{"mov %fs:0x10,%rax", []byte{0x64, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0}, true},
		{"lock cmpxchg", []byte{0xf0, 0x0f, 0xb1, 0x17}, false},
		{"notrack jmp *%rax", []byte{0x3e, 0xff, 0xe0}, false},
		{"int3", []byte{0xcc}, false},
		{"hlt", []byte{0xf4}, false},
		{"vzeroupper (VEX)", []byte{0xc5, 0xf8, 0x77}, false},
		{"EVEX", []byte{0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06}, false},
		{"ud2", []byte{0x0f, 0x0b}, false},
		{"syscall", []byte{0x0f, 0x05}, false},
		{"cpuid", []byte{0x0f, 0xa2}, true},
		{"mov %eax,%ss", []byte{0x8e, 0xd0}, false},
		{"mov %eax,%ds", []byte{0x8e, 0xd8}, true},
		{"empty", nil, false},
		{"prefixes only", []byte{0x66, 0x66}, false},
	} {
		if got := Uprobeable(c.code); got != c.want {
			t.Errorf("%s: Uprobeable = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzUprobeable: any bytes are answered without a panic.
func FuzzUprobeable(f *testing.F) {
	f.Add([]byte{0xf0, 0x0f, 0xb1, 0x17})
	f.Add([]byte{0x48, 0x0f})
	f.Fuzz(func(t *testing.T, code []byte) { Uprobeable(code) })
}
