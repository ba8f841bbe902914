package session

import (
	"bufio"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/rlimit"
	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/dwarf/loclist"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
	fx "github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// requireBPF skips a test that needs to load and attach BPF programs when
// this process cannot, saying why; under CI=true that is a failure.
func requireBPF(t testing.TB) {
	t.Helper()
	fx.RequireBPF(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		fx.Missing(t, "cannot lift the memlock limit for BPF maps: %v", err)
	}
}

// requireTool skips (or under CI fails) when a compiler or tool is missing.
func requireTool(t testing.TB, name string) { t.Helper(); fx.NeedTool(t, name) }

// fixture is the compiled whyfail.c with what the tests need from its DWARF.
type fixture struct {
	exe       string
	low, high uint64                            // check()'s link-time range
	frameBase []byte                            // check()'s DW_AT_frame_base
	locals    map[string][]byte                 // exprloc locations of check()'s parameters and locals (-O0)
	counter   []byte                            // location of the global counter
	params    map[string]func(pc uint64) []byte // n, depth: location at pc from the location lists (-O2)
	stmts     []stmtPC                          // is_stmt rows inside check(), by address
	markers   map[string]int                    // @marker -> line
	lineMark  map[int]string                    // line -> marker
}

type stmtPC struct {
	pc   uint64
	line int
}

func buildFixture(t testing.TB, compiler, opt string) *fixture {
	t.Helper()
	requireTool(t, compiler)
	src, err := filepath.Abs("testdata/whyfail.c")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "whyfail")
	if out, err := exec.Command(compiler, "-g", opt, "-o", exe, src, "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", compiler, opt, err, out)
	}
	f := &fixture{exe: exe, locals: map[string][]byte{}, params: map[string]func(uint64) []byte{}, markers: map[string]int{}, lineMark: map[int]string{}}
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(text), "\n") {
		if j := strings.Index(l, "// @"); j >= 0 {
			m := strings.TrimSpace(l[j+4:])
			f.markers[m] = i + 1
			f.lineMark[i+1] = m
		}
	}

	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	d, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	var cu *dwarf.Entry
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			cu = e
		case dwarf.TagVariable:
			if e.Val(dwarf.AttrName) == "counter" {
				loc, _ := e.Val(dwarf.AttrLocation).([]byte)
				// clang indexes .debug_addr (DW_OP_addrx).
				f.counter, err = bpfgen.ResolveAddrx(loc, func(i uint64) (uint64, error) {
					base, _ := cu.Val(dwarf.AttrAddrBase).(int64)
					sec := ef.Section(".debug_addr")
					if sec == nil {
						return 0, fmt.Errorf("no .debug_addr")
					}
					b, err := sec.Data()
					if err != nil || base+8*int64(i)+8 > int64(len(b)) {
						return 0, fmt.Errorf("index %d out of .debug_addr: %v", i, err)
					}
					return binary.LittleEndian.Uint64(b[base+8*int64(i):]), nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		case dwarf.TagSubprogram:
			if e.Val(dwarf.AttrName) != "check" || e.Val(dwarf.AttrLowpc) == nil {
				continue
			}
			rg, err := d.Ranges(e)
			if err != nil || len(rg) != 1 {
				t.Fatalf("ranges of check: %v %v", rg, err)
			}
			f.low, f.high = rg[0][0], rg[0][1]
			f.frameBase, _ = e.Val(dwarf.AttrFrameBase).([]byte)
			for e.Children {
				c, err := r.Next()
				if err != nil || c == nil {
					t.Fatal(err)
				}
				if c.Tag == 0 {
					break
				}
				name, _ := c.Val(dwarf.AttrName).(string)
				if loc, ok := c.Val(dwarf.AttrLocation).([]byte); ok {
					f.locals[name] = loc
				}
				if fld := c.AttrField(dwarf.AttrLocation); fld != nil && (fld.Class == dwarf.ClassLocListPtr || fld.Class == dwarf.ClassLocList) {
					f.params[name] = locList(t, ef, cu, fld)
				}
				if c.Children {
					r.SkipChildren()
				}
			}
			lr, err := d.LineReader(cu)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[uint64]bool{}
			var le dwarf.LineEntry
			for lr.Next(&le) == nil {
				if le.IsStmt && !le.EndSequence && le.Address >= f.low && le.Address < f.high && !seen[le.Address] &&
					filepath.Base(le.File.Name) == "whyfail.c" {
					seen[le.Address] = true
					f.stmts = append(f.stmts, stmtPC{le.Address, le.Line})
				}
			}
			sort.Slice(f.stmts, func(i, j int) bool { return f.stmts[i].pc < f.stmts[j].pc })
		}
	}
	if f.low == 0 || len(f.stmts) == 0 || f.counter == nil {
		t.Fatalf("no check(), statements or counter in the DWARF of %s", exe)
	}
	return f
}

// locList returns a lookup of a variable's location list: gcc gives an
// offset into .debug_loclists, clang an index (DW_FORM_loclistx) through the
// unit's offset table; clang's entries also index .debug_addr.
func locList(t testing.TB, ef *elf.File, cu *dwarf.Entry, fld *dwarf.Field) func(uint64) []byte {
	sec := ef.Section(".debug_loclists")
	if sec == nil {
		t.Fatal("no .debug_loclists")
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	switch v := fld.Val.(type) {
	case int64:
		off = v
	case uint64:
		off = int64(v)
	}
	if fld.Class == dwarf.ClassLocList {
		base, _ := cu.Val(dwarf.AttrLoclistsBase).(int64)
		off = base + int64(binary.LittleEndian.Uint32(data[base+4*off:]))
	}
	var addr *godwarf.DebugAddr
	if s := ef.Section(".debug_addr"); s != nil {
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		ab, _ := cu.Val(dwarf.AttrAddrBase).(int64)
		addr = godwarf.ParseAddr(b).GetSubsection(uint64(ab))
	}
	low, _ := cu.Val(dwarf.AttrLowpc).(uint64)
	rd := loclist.NewDwarf5Reader(data)
	return func(pc uint64) []byte {
		e, err := rd.Find(int(off), 0, low, pc, addr)
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return nil
		}
		return e.Instr
	}
}

// fileOffset converts a link-time address with the executable PT_LOAD.
func (f *fixture) fileOffset(t testing.TB, va uint64) uint64 {
	ef, err := elf.Open(f.exe)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && va >= p.Vaddr && va < p.Vaddr+p.Filesz {
			return va - p.Vaddr + p.Off
		}
	}
	t.Fatalf("%#x is in no executable segment", va)
	return 0
}

// Variable indexes in every statement of the plan.
const (
	vNEntry  = iota // n as it was at entry: DW_OP_entry_value(DW_OP_reg5)
	vCounter        // the global, DW_OP_addr (PIE: needs the load bias)
	vNull           // DW_OP_lit0: address 0, a read that fails at run time
	vN              // -O0 only from here: DWARF locations of check()
	vDepth
	vR
	vSq
	vRDI = 7 // entry statement only: DW_OP_reg5, DW_OP_reg4
	vRSI = 8
)

// plan builds a session plan with a statement per is_stmt address and the
// variables above; withLocals adds check()'s own locations (exprloc at -O0).
func (f *fixture) plan(t testing.TB, withLocals bool) Plan {
	tf, err := target.Open(f.exe, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	p := Plan{Binary: f.exe, Spec: bpfgen.Spec{
		EntryOffset: f.fileOffset(t, f.low),
		RetSize:     4,
		Cond:        ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -22}},
	}}
	for i, s := range f.stmts {
		reg, off, err := tf.CFA(s.pc)
		if err != nil {
			t.Fatal(err)
		}
		vars := []ir.Var{
			{Name: "n@entry", Expr: []byte{0xa3, 0x01, 0x55, 0x9f}, Size: 4, Signed: true},
			{Name: "counter", Expr: f.counter, Size: 8, Signed: true},
			{Name: "null", Expr: []byte{0x30}, Size: 8},
		}
		if withLocals {
			for _, v := range []struct {
				name string
				size int
			}{{"n", 4}, {"depth", 4}, {"r", 4}, {"sq", 8}} {
				loc := f.locals[v.name]
				if loc == nil {
					t.Fatalf("no exprloc for %s", v.name)
				}
				vars = append(vars, ir.Var{Name: v.name, Expr: loc, FrameBase: f.frameBase, Size: v.size, Signed: true})
			}
		} else {
			// Optimised: the parameters from their location lists
			// (registers, DW_OP_entry_value), nil where optimised out.
			for _, name := range []string{"n", "depth"} {
				loc := f.params[name]
				if loc == nil {
					t.Fatalf("no location list for %s", name)
				}
				vars = append(vars, ir.Var{Name: name, Expr: loc(s.pc), Size: 4, Signed: true})
			}
		}
		if withLocals {
			if s.pc == f.low {
				vars = append(vars,
					ir.Var{Name: "rdi", Expr: []byte{0x55}, Size: 4, Signed: true},
					ir.Var{Name: "rsi", Expr: []byte{0x54}, Size: 4, Signed: true})
			}
		}
		p.Stmts = append(p.Stmts, bpfgen.Stmt{
			ID: uint32(i + 1), PC: s.pc, FileOffset: f.fileOffset(t, s.pc),
			CFA: bpfgen.CFARule{Reg: reg, Offset: off}, Vars: vars,
		})
	}
	return p
}

// line gives the source line of a statement id of plan().
func (f *fixture) line(id uint32) int { return f.stmts[id-1].line }

// markerPath is the trace's sequence of marked lines, repeats collapsed:
// compilers differ in the unmarked rows (braces, the function's own line)
// and in how often a line recurs, not in this order at -O0.
func (f *fixture) markerPath(tr Trace) []string {
	var path []string
	for _, r := range tr.Records {
		m, ok := f.lineMark[f.line(r.StmtID)]
		if ok && (len(path) == 0 || path[len(path)-1] != m) {
			path = append(path, m)
		}
	}
	return path
}

// counterBefore is the global counter of a fresh process before check(n, 0)
// in loop mode: each call adds n for odd n and 2n for even n.
func counterBefore(n int) int64 {
	var c int64
	for i := 0; i < n; i++ {
		if i%2 == 1 {
			c += int64(i)
		} else {
			c += 2 * int64(i)
		}
	}
	return c
}

// linkIDs lists the ids of the BPF links bpftool sees.
func linkIDs(t testing.TB) map[uint32]bool {
	requireTool(t, "bpftool")
	// bpftool fails when a link it is listing goes away meanwhile
	// (another test process detaching): try again.
	var out []byte
	var err error
	for try := 0; try < 5; try++ {
		if out, err = exec.Command("bpftool", "-j", "link", "list").Output(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("bpftool link list: %v", err)
	}
	var links []struct {
		ID uint32 `json:"id"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("bpftool link list: %v\n%s", err, out)
	}
	ids := map[uint32]bool{}
	for _, l := range links {
		ids[l.ID] = true
	}
	return ids
}

// startWaiting starts the fixture in mode, blocked until release is called.
func startWaiting(t testing.TB, exe, mode string) (cmd *exec.Cmd, release func()) {
	cmd = exec.Command(exe, mode, "wait")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, func() {
		w := bufio.NewWriter(in)
		fmt.Fprintln(w, "go")
		w.Flush()
		in.Close()
	}
}
