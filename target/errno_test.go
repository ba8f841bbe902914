package target

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestLibcErrno finds errno's GOT slot in the system's libc and checks it
// against the code that reads it: __errno_location is
// `mov rax, [rip+slot]; add rax, fs:0`.
func TestLibcErrno(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		fixture.Missing(t, "no %s (%v)", libc, err)
	}
	f := mustOpen(t, libc, noDebugDirs)
	le, err := f.LibcErrno()
	if err != nil {
		t.Fatal(err)
	}
	loc := symbolValue(t, f, "__errno_location")
	code, err := f.Code(loc.Value, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code[:3], []byte{0x48, 0x8b, 0x05}) {
		t.Fatalf("__errno_location starts % x, not mov rax, [rip+disp32]", code)
	}
	if want := loc.Value + 7 + uint64(int64(int32(binary.LittleEndian.Uint32(code[3:])))); le.GOT != want {
		t.Errorf("GOT slot %#x, __errno_location reads %#x", le.GOT, want)
	}
	if dyn := f.ELF.Section(".dynamic"); dyn == nil || le.Dynamic != dyn.Addr {
		t.Errorf("Dynamic %#x, section .dynamic is %v", le.Dynamic, dyn)
	}
	note := f.ELF.Section(".note.gnu.build-id")
	if note == nil {
		t.Fatal("libc has no .note.gnu.build-id")
	}
	data, err := note.Data()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(le.BuildID, f.BuildID) || le.BuildIDAddr < note.Addr || le.BuildIDAddr+uint64(len(le.BuildID)) > note.Addr+note.Size ||
		!bytes.Equal(data[le.BuildIDAddr-note.Addr:][:len(le.BuildID)], f.BuildID) {
		t.Errorf("build-id %x at %#x; the note section at %#x holds %x", le.BuildID, le.BuildIDAddr, note.Addr, f.BuildID)
	}
	if !f.IsExecutable() || f.IsStatic() {
		t.Errorf("libc (runnable, with an interpreter): IsExecutable %v IsStatic %v", f.IsExecutable(), f.IsStatic())
	}
}

// TestProgramErrno classifies programs and libraries built here and finds
// what errno() needs in each: DT_DEBUG and libc in a dynamic program,
// errno's constant TP offset in a static one (checked against its
// __errno_location, `mov rax, imm32; add rax, fs:0`).
func TestProgramErrno(t *testing.T) {
	needTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "errno.c")
	code := "#include <errno.h>\nint fail(void) { errno = ENOENT; return -1; }\nint main(void) { return fail() == -1 && errno == ENOENT ? 0 : 1; }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                string
		flags               []string
		exec, static, debug bool
	}{
		{"pie", []string{"-g", "-O2", "-fPIE", "-pie"}, true, false, true},
		{"nopie", []string{"-g", "-O0", "-no-pie"}, true, false, true},
		{"static", []string{"-g", "-O2", "-static"}, true, true, false},
		{"static-pie", []string{"-g", "-O2", "-static-pie"}, true, true, true},
		{"lib.so", []string{"-g", "-O2", "-fPIC", "-shared"}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			run(t, "gcc", append(tc.flags, "-o", path, src)...)
			f := mustOpen(t, path, noDebugDirs)
			if f.IsExecutable() != tc.exec || f.IsStatic() != tc.static {
				t.Errorf("IsExecutable %v IsStatic %v, want %v %v", f.IsExecutable(), f.IsStatic(), tc.exec, tc.static)
			}
			if _, err := f.LibcErrno(); err == nil || !strings.Contains(err.Error(), "defines no thread-local errno: it is not glibc's libc") {
				t.Errorf("LibcErrno error %v", err)
			}
			addr, ok := f.DebugEntry()
			if ok != tc.debug {
				t.Errorf("DebugEntry ok %v, want %v", ok, tc.debug)
			}
			if ok {
				dyn := f.ELF.Section(".dynamic")
				data, err := dyn.Data()
				if err != nil {
					t.Fatal(err)
				}
				if i := addr - dyn.Addr; addr < dyn.Addr+8 || i > uint64(len(data)) || elf.DynTag(binary.LittleEndian.Uint64(data[i-8:])) != elf.DT_DEBUG {
					t.Errorf("DebugEntry %#x is not the value of a DT_DEBUG entry of .dynamic at %#x", addr, dyn.Addr)
				}
			}
			off, err := f.StaticErrno()
			if !tc.static {
				if tc.exec {
					if p, err := f.FindLibc(); err != nil || !strings.HasSuffix(p, "/libc.so.6") {
						t.Errorf("FindLibc = %q, %v", p, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			loc := symbolValue(t, f, "__errno_location")
			code, err := f.Code(loc.Value, 7)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(code[:3], []byte{0x48, 0xc7, 0xc0}) {
				t.Fatalf("__errno_location starts % x, not mov rax, imm32", code)
			}
			if want := int64(int32(binary.LittleEndian.Uint32(code[3:]))); off != want {
				t.Errorf("StaticErrno = %d, __errno_location adds %d", off, want)
			}
		})
	}
}
