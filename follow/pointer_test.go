package follow

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// TestPointerCalls: a call through a pointer whose target is outside the
// binary making it is named by the function starting there in the file
// the process's memory map places it in (a plugin loaded with dlopen),
// with that file (Call.Binary, Call.Lib); a target in the calling binary
// is named as before, without a file. Anything else keeps the hex
// address, never a name guessed from the nearest symbol: code inside a
// function, no memory map, anonymous memory, a file that cannot be opened.
func TestPointerCalls(t *testing.T) {
	b := fixture.Build(t, "dlhost", fixture.Default)
	open := func(path string) *target.File {
		f, err := target.Open(path, target.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	prog, plug := open(b.Path), open(b.Lib)
	bin := func(f *target.File) *Binary {
		return &Binary{Path: f.Path, File: f, Code: f.Code, FileOffset: f.FileOffset, Symbols: f.Symbols()}
	}
	sym := func(f *target.File, name string) target.Symbol {
		for _, s := range f.Symbols() {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no %s in %s", name, f.Path)
		return target.Symbol{}
	}
	run, plugRun, odd := sym(prog, "run"), sym(plug, "plug_run"), sym(plug, "plug_odd")
	const progBias, plugBias = 0x555555554000, 0x7f0000000000
	mapping := func(f *target.File, bias uint64) string {
		for _, p := range f.ELF.Progs {
			if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
				start := (bias + p.Vaddr) &^ 0xfff
				return fmt.Sprintf("%x-%x r-xp %08x fd:01 42 %s\n", start, (bias+p.Vaddr+p.Memsz+0xfff)&^0xfff, p.Off&^0xfff, f.Path)
			}
		}
		t.Fatalf("%s has no executable segment", f.Path)
		return ""
	}
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	maps := []byte(mapping(prog, progBias) + mapping(plug, plugBias) +
		"7e0000000000-7e0000001000 r-xp 00000000 fd:01 43 " + libc + "\n" +
		"7ffff0000000-7ffff0021000 rwxp 00000000 00:00 0 \n")
	site := run.Value + 9 // the call instruction's address stands anywhere in run
	s := &Site{CallID: 10, ReturnID: 11, PC: site, Used: true, Indirect: true, Binary: prog.Path, NotFollowed: "called through a pointer", Depth: 1}
	p := &Plan{retSize: 4, Depth: 3, byID: map[uint32]*Site{10: s, 11: s}, bins: map[string]*Binary{prog.Path: bin(prog)}, root: nil,
		mappedAt: func(path string) *Binary {
			if path == plug.Path {
				return bin(plug)
			}
			return nil // libc: cannot be opened, as far as the test goes
		}}
	p.root = p.bins[prog.Path]
	p.root.prepare()
	for _, c := range []struct {
		name   string
		maps   []byte
		addr   uint64
		callee string
		bin    string
		target uint64
		lib    string
	}{
		{"a plugin's function", maps, plugBias + plugRun.Value, "plug_run", plug.Path, plugRun.Value, filepath.Base(plug.Path)},
		{"the calling binary's function", maps, progBias + run.Value, "run", prog.Path, run.Value, ""},
		{"inside a function", maps, plugBias + odd.Value + 1, fmt.Sprintf("%#x", plugBias+odd.Value+1), "", 0, ""},
		{"no memory map", nil, plugBias + plugRun.Value, fmt.Sprintf("%#x", plugBias+plugRun.Value), "", 0, ""},
		{"anonymous memory", maps, 0x7ffff0000010, "0x7ffff0000010", "", 0, ""},
		{"a file not opened", maps, 0x7e0000000010, "0x7e0000000010", "", 0, ""},
	} {
		tr := &session.Trace{Return: -22, Bias: progBias, Records: []session.Record{
			{StmtID: 10, Values: []session.Value{{U64: 0x7ffe0000, OK: true}, {U64: c.addr, OK: true}, {U64: progBias + site, OK: true}}},
			{StmtID: 11, Values: []session.Value{{U64: 0xffffffea, OK: true}, {U64: 0x7ffe0000, OK: true}}},
		}}
		if c.maps != nil {
			tr.Stack = &session.Stack{Maps: c.maps}
		}
		res := p.Calls(tr, nil)
		if len(res.Calls) != 1 {
			t.Fatalf("%s: %d calls, want 1", c.name, len(res.Calls))
		}
		got := res.Calls[0]
		if got.Callee != c.callee || got.Binary != c.bin || got.Target != c.target || got.Lib != c.lib || got.Value != -22 {
			t.Errorf("%s: %q in %q at %#x, file %q, value %d; want %q in %q at %#x, file %q, -22", c.name, got.Callee, got.Binary, got.Target, got.Lib, got.Value, c.callee, c.bin, c.target, c.lib)
		}
	}
}
