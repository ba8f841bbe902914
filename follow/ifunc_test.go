package follow

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

const libcPath = "/lib/x86_64-linux-gnu/libc.so.6"

// TestIfuncPLTLibc: every PLT entry objdump labels *ABS*+RESOLVER@plt in
// glibc's libc.so.6 (an IRELATIVE slot) is named by the ifunc symbol at
// RESOLVER in its dynamic symbols, and its slot is the one the entry's
// jmp reads.
func TestIfuncPLTLibc(t *testing.T) {
	fixture.NeedTool(t, "objdump")
	f, err := elf.Open(libcPath)
	if err != nil {
		fixture.Missing(t, "%v", err)
		return
	}
	defer f.Close()
	out, err := exec.Command("objdump", "-d", "-j", ".plt", "-j", ".plt.sec", libcPath).Output()
	if err != nil {
		t.Fatal(err)
	}
	ifuncs := map[uint64][]string{} // the ifunc symbols at an address: aliases
	syms, _ := f.DynamicSymbols()
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_GNU_IFUNC {
			name, _, _ := strings.Cut(s.Name, "@")
			ifuncs[s.Value] = append(ifuncs[s.Value], name)
		}
	}
	names, slots := IfuncPLT(f, nil), PLTSlots(f)
	entry := regexp.MustCompile(`(?m)^([0-9a-f]+) <\*ABS\*\+0x([0-9a-f]+)@plt>:\n\s+[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(?:bnd )?jmp\s+\*0x[0-9a-f]+\(%rip\)\s+# ([0-9a-f]+)`)
	ms := entry.FindAllStringSubmatch(string(out), -1)
	if len(ms) == 0 {
		t.Fatalf("objdump labels no IRELATIVE PLT entries in %s", libcPath)
	}
	for _, m := range ms {
		addr, _ := strconv.ParseUint(m[1], 16, 64)
		res, _ := strconv.ParseUint(m[2], 16, 64)
		slot, _ := strconv.ParseUint(m[3], 16, 64)
		if want := ifuncs[res]; !slices.Contains(want, names[addr]) {
			t.Errorf("PLT entry %#x: named %q, want an ifunc at %#x, one of %q", addr, names[addr], res, want)
		}
		if slots[addr] != slot {
			t.Errorf("PLT entry %#x: slot %#x, objdump says %#x", addr, slots[addr], slot)
		}
	}
	if len(names) != len(ms) {
		t.Errorf("%d entries named, objdump labels %d", len(names), len(ms))
	}
}

// FuzzIfuncPLT: any bytes read as an ELF file name PLT entries and slots
// without panicking.
func FuzzIfuncPLT(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	if b, err := exec.Command("head", "-c", "4096", "/bin/true").Output(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		IfuncPLT(ef, ef)
		PLTSlots(ef)
		BindNow(ef)
	})
}

// TestPublicName: of an ifunc's aliases, the name a call is shown with.
func TestPublicName(t *testing.T) {
	for _, c := range [][2]string{{"mempcpy", "__mempcpy"}, {"strchr", "index"}, {"memcmp", "bcmp"}, {"strrchr", "rindex"}, {"stpcpy", "__stpcpy"}, {"a", "b"}} {
		if !publicName(c[0], c[1]) || publicName(c[1], c[0]) {
			t.Errorf("publicName(%q, %q) = %v, publicName(%q, %q) = %v; want %q chosen", c[0], c[1], publicName(c[0], c[1]), c[1], c[0], publicName(c[1], c[0]), c[0])
		}
	}
}

// TestIfuncCalls: an ifunc call is named by the function its GOT slot's
// value starts in the file the memory map places it in: read at the call,
// else at the return while the slot still pointed into the PLT of the
// file holding the call (a lazily bound entry's first call). Anything
// else keeps the PLT entry's name, with a note saying why: never a guess.
func TestIfuncCalls(t *testing.T) {
	b := fixture.Build(t, "ifunc", fixture.Default)
	open := func(path string) *target.File {
		f, err := target.Open(path, target.Options{})
		if err != nil {
			fixture.Missing(t, "%v", err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	prog, libc := open(b.Path), open(libcPath)
	bin := func(f *target.File) *Binary {
		return &Binary{Path: f.Path, File: f, Code: f.Code, FileOffset: f.FileOffset, Symbols: f.Symbols(), PLT: PLTNames(f.ELF), Slots: PLTSlots(f.ELF)}
	}
	pb := bin(prog)
	var plt, slot uint64
	for a, n := range pb.PLT {
		if n == "strchr" {
			plt, slot = a, pb.Slots[a]
		}
	}
	var impl target.Symbol
	for _, s := range libc.Symbols() {
		if s.Name == "__strchr_sse2" {
			impl = s
		}
	}
	if plt == 0 || impl.Value == 0 {
		t.Fatalf("no strchr@plt in %s or no __strchr_sse2 in %s", b.Path, libcPath)
	}
	// The two files' executable segments, mapped at made-up biases.
	const progBias, libcBias = 0x555555554000, 0x7f0000000000
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
	maps := []byte(mapping(prog, progBias) + mapping(libc, libcBias) + "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 \n")
	s := &Site{CallID: 10, ReturnID: 11, Callee: "strchr@plt", Used: true, Ifunc: true, Slot: slot, Binary: prog.Path, NotFollowed: "an ifunc of libc.so.6, resolved at run time", retSlot: 2, ifuncLib: libc.Path}
	// A function of another file bound to the name (LD_PRELOAD): the
	// fixture's own check_pair stands for it.
	var other target.Symbol
	for _, sym := range prog.Symbols() {
		if sym.Name == "check_pair" {
			other = sym
		}
	}
	p := &Plan{retSize: 4, Depth: 3, byID: map[uint32]*Site{10: s, 11: s}, bins: map[string]*Binary{prog.Path: pb},
		mappedAt: func(path string) *Binary {
			if path == libc.Path {
				return bin(libc)
			}
			return nil
		}}
	bound, unbound := libcBias+impl.Value, progBias+plt+6
	call := func(slot uint64, ok bool) session.Record {
		return session.Record{StmtID: 10, Values: []session.Value{{U64: 0x7ffe0000, OK: true}, {U64: slot, OK: ok}}}
	}
	ret := func(slot uint64) session.Record {
		return session.Record{StmtID: 11, Values: []session.Value{{U64: 0, OK: true}, {U64: 0x7ffe0000, OK: true}, {U64: slot, OK: true}}}
	}
	const chosen = "chosen at run time by the ifunc strchr"
	for _, c := range []struct {
		name    string
		now     bool // the binary is bound at start-up: the return probe reads no slot
		maps    []byte
		records []session.Record
		callee  string
		target  uint64
		why     string // Call.NotFollowed
		note    string // Call.Note
	}{
		{"bound at the call", false, maps, []session.Record{call(bound, true), ret(bound)}, "__strchr_sse2", impl.Value, chosen, ""},
		{"bound during the call", false, maps, []session.Record{call(unbound, true), ret(bound)}, "__strchr_sse2", impl.Value, chosen, ""},
		{"never bound", false, maps, []session.Record{call(unbound, true), ret(unbound)}, "strchr@plt", 0, "",
			"an ifunc: its GOT slot was not bound, the implementation it reached is not known"},
		{"bound at start-up but not", true, maps, []session.Record{call(unbound, true), {StmtID: 11, Values: []session.Value{{U64: 0, OK: true}, {U64: 0x7ffe0000, OK: true}}}}, "strchr@plt", 0, "",
			"an ifunc: its GOT slot was not bound, the implementation it reached is not known"},
		{"bound at start-up", true, maps, []session.Record{call(bound, true), {StmtID: 11, Values: []session.Value{{U64: 0, OK: true}, {U64: 0x7ffe0000, OK: true}}}}, "__strchr_sse2", impl.Value, chosen, ""},
		{"interposed", false, maps, []session.Record{call(progBias+other.Value, true), ret(progBias + other.Value)}, "check_pair", other.Value,
			"bound at run time to check_pair in " + filepath.Base(prog.Path) + ", not to the ifunc of libc.so.6", ""},
		{"no memory map", false, nil, []session.Record{call(bound, true), ret(bound)}, "strchr@plt", 0, "",
			"an ifunc: the process's memory map could not be read, the implementation it reached is not known"},
		{"slot unread", false, maps, []session.Record{call(0, false), ret(bound)}, "strchr@plt", 0, "",
			"an ifunc: its GOT slot could not be read, the implementation it reached is not known"},
		{"anonymous memory", false, maps, []session.Record{call(0x7ffff0000010, true), ret(0x7ffff0000010)}, "strchr@plt", 0, "",
			"an ifunc: its GOT slot holds 0x7ffff0000010, where the process maps no executable file, the implementation it reached is not known"},
		{"inside a function", false, maps, []session.Record{call(bound+1, true), ret(bound + 1)}, "strchr@plt", 0, "",
			fmt.Sprintf("an ifunc: its GOT slot holds %#x, which starts no function of libc.so.6, the implementation it reached is not known", bound+1)},
	} {
		s.retSlot = 2
		if c.now {
			s.retSlot = 0
		}
		tr := &session.Trace{Records: c.records, Return: -22, Bias: progBias}
		if c.maps != nil {
			tr.Stack = &session.Stack{Maps: c.maps}
		}
		res := p.Calls(tr, nil)
		if len(res.Calls) != 1 {
			t.Fatalf("%s: %d calls, want 1", c.name, len(res.Calls))
		}
		got := res.Calls[0]
		wantBin := ""
		switch {
		case c.callee == "check_pair":
			wantBin = prog.Path
		case c.target != 0:
			wantBin = libc.Path
		}
		if got.Callee != c.callee || got.Target != c.target || got.Binary != wantBin || got.NotFollowed != c.why || got.Note != c.note {
			t.Errorf("%s: callee %q at %#x in %q, not followed %q, note %q; want %q at %#x in %q, %q, %q",
				c.name, got.Callee, got.Target, got.Binary, got.NotFollowed, got.Note, c.callee, c.target, wantBin, c.why, c.note)
		}
	}
}
