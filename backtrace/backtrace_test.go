package backtrace

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

func TestParseMaps(t *testing.T) {
	in := `5581a7a00000-5581a7a01000 r--p 00000000 08:01 1311 /tmp/a b/prog
5581a7a01000-5581a7a02000 r-xp 00001000 08:01 1311 /tmp/a b/prog
7f1c2e000000-7f1c2e021000 rw-p 00000000 00:00 0 
7f1c2e200000-7f1c2e228000 r-xp 00028000 08:01 42    /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)
7ffd1c1f1000-7ffd1c1f3000 r-xp 00000000 00:00 0                          [vdso]
`
	got, err := ParseMaps([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{0x5581a7a00000, 0x5581a7a01000, 0, false, "/tmp/a b/prog"},
		{0x5581a7a01000, 0x5581a7a02000, 0x1000, true, "/tmp/a b/prog"},
		{0x7f1c2e000000, 0x7f1c2e021000, 0, false, ""},
		{0x7f1c2e200000, 0x7f1c2e228000, 0x28000, true, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7ffd1c1f1000, 0x7ffd1c1f3000, 0, true, "[vdso]"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMaps =\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range []string{"zz-1 r-xp 0 0:0 0 /x", "10-1 r-xp 0 0:0 0 /x", "1-2 r-x 0 0:0 0", "1-2 r-xp", "12 r-xp 0 0:0 0 /x"} {
		if m, err := ParseMaps([]byte(bad)); err == nil || m != nil {
			t.Errorf("ParseMaps(%q) = %v, %v; want an error", bad, m, err)
		}
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("5581a7a01000-5581a7a02000 r-xp 00001000 08:01 1311 /tmp/prog\n"))
	f.Add([]byte("7f-80 ---p 0 0:0 0\n\n1-2 rwxs ff 1:1 9 [stack]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMaps(b)
		if err != nil {
			if ms != nil {
				t.Fatalf("mappings %v with error %v", ms, err)
			}
			return
		}
		for _, m := range ms {
			if m.End < m.Start {
				t.Fatalf("mapping %+v ends before it starts", m)
			}
		}
	})
}

func TestBacktraceString(t *testing.T) {
	bt := &Backtrace{Frames: []Frame{
		{PC: 0x1000, Binary: "/lib/libc.so.6", Function: "getaddrinfo", File: "../sysdeps/posix/getaddrinfo.c", Line: 2304},
		{PC: 0x2000, Binary: "/bin/p", Function: "helper", File: "p.c", Line: 7, Inlined: true},
		{PC: 0x2000, Binary: "/bin/p", Function: "main", File: "p.c", Line: 20},
		{PC: 0x3000, Binary: "/bin/p"},
	}, Stop: "end of the copied stack"}
	want := `backtrace:
  #0 0x1000 getaddrinfo at ../sysdeps/posix/getaddrinfo.c:2304 in /lib/libc.so.6
  #1 0x2000 helper (inlined) at p.c:7 in /bin/p
  #2 0x2000 main at p.c:20
  #3 0x3000 ??
  (unwinding stopped: end of the copied stack)
`
	if got := bt.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// callersBinary builds the callers fixture at gcc -O0 and opens it.
func callersBinary(t testing.TB) (*fixture.Binary, *target.File) {
	b := fixture.Build(t, "callers", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	f, err := target.Open(b.Path, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return b, f
}

func symbolAddr(t testing.TB, f *target.File, name string) uint64 {
	for _, s := range f.Symbols() {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}

// TestUnwindSynthetic: at -O0 gcc keeps rbp frames, whose CFI says the
// caller's rbp is at CFA-16 and the return address at CFA-8; a stack built
// by those rules unwinds to the callers at their calls, and stops at the
// end of the copy.
func TestUnwindSynthetic(t *testing.T) {
	b, f := callersBinary(t)
	const base = 0x555555554000
	maps := fmt.Sprintf("%x-%x r-xp 00000000 00:00 0 %s\n", uint64(base), uint64(base+0x100000), b.Path)
	entry := symbolAddr(t, f, "check_mode")
	// Return addresses: any address past the prologues of open_bad and
	// main does here (the lines of real calls are checked end to end,
	// in internal/cli's TestBacktraceCallers).
	inBad := symbolAddr(t, f, "open_bad") + 8
	inMain := symbolAddr(t, f, "main") + 8
	sp := uint64(0x7ffe0000)
	// At check_mode's entry: [sp] = return into open_bad. open_bad's
	// frame at that pc (after its prologue): CFA = rbp+16, return at
	// CFA-8, saved rbp at CFA-16.
	stack := make([]byte, 48) // ends before main's return address
	le := binary.LittleEndian
	rbp := sp + 16 // open_bad's rbp: its frame
	le.PutUint64(stack[0:], base+inBad)
	le.PutUint64(stack[16:], sp+40) // saved rbp of main, at open_bad's rbp
	le.PutUint64(stack[24:], base+inMain)
	st := &session.Stack{
		Regs:  map[uint64]uint64{abi.RIP: base + entry, abi.RSP: sp, abi.RBP: rbp},
		Bytes: stack,
		Maps:  []byte(maps),
	}
	u := NewUnwinder(target.Options{})
	defer u.Close()
	bt := u.Unwind(st)
	var names []string
	for _, fr := range bt.Frames {
		names = append(names, fr.Function)
	}
	if got := strings.Join(names, " "); got != "check_mode open_bad main" || bt.Stop != "end of the copied stack" {
		t.Errorf("frames %q, stop %q; want check_mode open_bad main, end of the copied stack\n%s", got, bt.Stop, bt)
	}
}

// FuzzUnwind: any registers and stack bytes unwind without panicking, in
// at most MaxFrames frames, ending with a reason or at the outermost frame.
func FuzzUnwind(f *testing.F) {
	b, file := callersBinary(f)
	const base = 0x555555554000
	maps := []byte(fmt.Sprintf("%x-%x r-xp 00000000 00:00 0 %s\n", uint64(base), uint64(base+0x100000), b.Path))
	entry := base + symbolAddr(f, file, "check_mode")
	f.Add(entry, uint64(0x7ffe0000), uint64(0x7ffe0010), make([]byte, 64))
	f.Add(entry+3, uint64(0x7ffe0000), uint64(0), []byte{1, 2, 3})
	u := NewUnwinder(target.Options{})
	f.Fuzz(func(t *testing.T, rip, rsp, rbp uint64, stack []byte) {
		st := &session.Stack{Regs: map[uint64]uint64{abi.RIP: rip, abi.RSP: rsp, abi.RBP: rbp}, Bytes: stack, Maps: maps}
		bt := u.Unwind(st)
		if len(bt.Frames) > MaxFrames+8 {
			t.Fatalf("%d frames", len(bt.Frames))
		}
		_ = bt.String()
	})
}
