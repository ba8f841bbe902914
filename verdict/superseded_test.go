package verdict

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/fixture"
)

// assemble assembles AT&T source with as into code at address 0 and
// decodes it; labels are its symbols' addresses.
func assemble(t *testing.T, src string) ([]instr, map[string]uint64) {
	t.Helper()
	fixture.NeedTool(t, "as")
	dir := t.TempDir()
	s, o := filepath.Join(dir, "f.s"), filepath.Join(dir, "f.o")
	if err := os.WriteFile(s, []byte(".text\n"+src+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("as", "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	f, err := elf.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code, err := f.Section(".text").Data()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := insn.Decode(code, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ins []instr
	for _, d := range ds {
		ins = append(ins, instr{pc: d.PC, inst: d.Inst, ok: d.OK})
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]uint64{}
	for _, sy := range syms {
		if sy.Section != elf.SHN_UNDEF && sy.Name != "" {
			labels[sy.Name] = sy.Value
		}
	}
	return ins, labels
}

// keptLabels runs kept over the conditional jumps, sets and moves of src
// (each labelled bN:), as New plans them, and returns the kept labels.
func keptLabels(t *testing.T, src string) []string {
	t.Helper()
	ins, labels := assemble(t, src)
	name := map[uint64]string{}
	for l, a := range labels {
		if strings.HasPrefix(l, "b") {
			name[a] = l
		}
	}
	var probed []int
	for k := range ins {
		if ins[k].ok && (isJcc(ins[k].inst.Op) || condOf[ins[k].inst.Op] != 0) {
			if name[ins[k].pc] == "" {
				t.Fatalf("branch at %#x without a bN label", ins[k].pc)
			}
			probed = append(probed, k)
		}
	}
	var out []string
	for k := range kept(ins, probed, 0) {
		out = append(out, name[ins[k].pc])
	}
	sort.Strings(out)
	return out
}

// TestKept: a branch after which every path to a return runs another
// probed branch gets no probe (it can never be the trace's last branch);
// one with a path to a return that runs none keeps its probe.
func TestKept(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"a set before the jump it feeds", `
	cmp %esi, %edi
b1:	sete %al
	test %eax, %eax
b2:	jne 1f
	ret
1:	mov $1, %eax
	ret`, []string{"b2"}},
		{"both arms meet at another branch", `
	cmp $1, %edi
b1:	je 1f
	add $2, %edi
1:	cmp $8, %edi
b2:	jg 2f
	ret
2:	mov $-22, %eax
	ret`, []string{"b2"}},
		{"an arm that returns keeps it", `
	cmp $1, %edi
b1:	je 1f
	cmp $8, %edi
b2:	jg 1f
	xor %eax, %eax
1:	ret`, []string{"b1", "b2"}},
		{"a loop: the back edge re-enters the loop's own branch, the exit reaches the next", `
	xor %eax, %eax
1:	add $1, %edi
	cmp $8, %edi
b1:	jb 1b
	test %esi, %esi
b2:	je 2f
	ret
2:	mov $-22, %eax
	ret`, []string{"b2"}},
		{"a loop whose only exit is its branch keeps it", `
	xor %eax, %eax
1:	add $1, %edi
	cmp $8, %edi
b1:	jb 1b
	ret`, []string{"b1"}},
		{"a call returns to the next instruction", `
	test %edi, %edi
b1:	je 1f
	call 0f
1:	test %eax, %eax
b2:	js 2f
	ret
2:	mov $-1, %eax
0:	ret`, []string{"b2"}},
		{"an indirect jump may go anywhere", `
	test %edi, %edi
b1:	je 1f
	jmp *%rax
1:	test %eax, %eax
b2:	js 2f
	ret
2:	ret`, []string{"b1", "b2"}},
		{"a jump out of the code is a tail call", `
	test %edi, %edi
b1:	je 1f
	jmp out
1:	test %eax, %eax
b2:	js 2f
	ret
2:	ret
	.skip 64
out:	ret`, []string{"b1", "b2"}},
		{"a jump to the entry starts another call", `
entry:	test %edi, %edi
b1:	je 1f
	jmp entry
1:	test %eax, %eax
b2:	js 2f
	ret
2:	ret`, []string{"b1", "b2"}},
		{"a trap or an undecodable instruction may end the call", `
	test %edi, %edi
b1:	je 1f
	ud2
1:	test %eax, %eax
b2:	js 2f
	ret
2:	ret`, []string{"b1", "b2"}},
		{"a conditional move followed straight by a return keeps it", `
	cmp %esi, %edi
b1:	cmovl %esi, %edi
	mov %edi, %eax
	ret`, []string{"b1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := keptLabels(t, c.src)
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("kept %v, want %v", got, c.want)
			}
		})
	}
}

// TestKeptFallsOffTheEnd: code that runs off the end of the decoded range
// may leave the function, like a return.
func TestKeptFallsOffTheEnd(t *testing.T) {
	got := keptLabels(t, `
	test %edi, %edi
b1:	je 2f
	test %eax, %eax
b2:	js 1f
1:	ret
2:	nop`)
	if strings.Join(got, " ") != "b1 b2" {
		t.Errorf("kept %v, want [b1 b2]", got)
	}
}

// TestPrunable: only C functions whose direct calls are all named, none
// of them one that may return twice, are pruned; an indirect call is no
// obstacle.
func TestPrunable(t *testing.T) {
	ins, labels := assemble(t, `
	call f
	call *%rax
	ret
f:	ret`)
	const c11 = 0x1d
	for _, c := range []struct {
		name string
		call func(uint64) string
		lang int64
		want bool
	}{
		{"named calls in C", func(uint64) string { return "strlen" }, c11, true},
		{"no names (the kernel)", nil, c11, false},
		{"C++", func(uint64) string { return "strlen" }, 0x21, false},
		{"no language", func(uint64) string { return "strlen" }, 0, false},
		{"a call no symbol names", func(uint64) string { return "" }, c11, false},
		{"setjmp", func(uint64) string { return "_setjmp" }, c11, false},
		{"sigsetjmp", func(uint64) string { return "__sigsetjmp" }, c11, false},
		{"vfork", func(uint64) string { return "vfork" }, c11, false},
		{"getcontext", func(uint64) string { return "getcontext" }, c11, false},
	} {
		call := c.call
		if call != nil {
			inner := call
			call = func(va uint64) string {
				if va != labels["f"] {
					t.Errorf("%s: asked to name %#x, not f's %#x", c.name, va, labels["f"])
				}
				return inner(va)
			}
		}
		if got := prunable(ins, call, c.lang); got != c.want {
			t.Errorf("%s: prunable %v, want %v", c.name, got, c.want)
		}
	}
}
