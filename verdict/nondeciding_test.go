package verdict

import (
	"sort"
	"strings"
	"testing"
)

// probedLabels plans src as New does with calls named by its labels: the
// conditional jumps, sets and moves labelled bN are probed (a jump
// labelled otherwise, like the stack protector's, is not). It returns the
// labels of the non-deciding branches, and of the probes kept after both
// prunings, for a return value of size bytes.
func probedLabels(t *testing.T, src string, size int) (nd, keep []string) {
	t.Helper()
	ins, labels := assemble(t, src)
	name := map[uint64]string{}
	for l, a := range labels {
		name[a] = l
	}
	var probed []int
	for k := range ins {
		if ins[k].ok && (isJcc(ins[k].inst.Op) || condOf[ins[k].inst.Op] != 0) && strings.HasPrefix(name[ins[k].pc], "b") {
			probed = append(probed, k)
		}
	}
	callName := func(va uint64) string { return name[va] }
	for k := range nonDeciding(ins, probed, leaders(ins), 0, callName, size) {
		nd = append(nd, name[ins[k].pc])
	}
	kp, n := keptProbes(ins, probed, leaders(ins), 0, callName, size, true)
	for k := range kp {
		keep = append(keep, name[ins[k].pc])
	}
	if len(n) != len(nd) {
		t.Errorf("keptProbes finds %d non-deciding, nonDeciding %v", len(n), nd)
	}
	sort.Strings(nd)
	sort.Strings(keep)
	return nd, keep
}

// TestNonDeciding: a branch both of whose sides return the same value,
// provably, gets no probe; one whose sides may return different values,
// or whose paths the model cannot follow, keeps it (and the branches
// before it that it superseded are probed again).
func TestNonDeciding(t *testing.T) {
	for _, c := range []struct {
		name, src string
		size      int
		nd, keep  []string
	}{
		{"both sides return the NULL the branch tested (python's PyLong_FromString, -Og)", `
	test %esi, %esi
b0:	jne 2f
	call f
	mov %rax, %r15
	test %rax, %rax
b1:	je 1f
	call g
	mov $0, %r15d
1:	mov %r15, %rax
	ret
2:	mov $1, %eax
	ret
f:	ret
g:	ret`, 8, []string{"b1"}, []string{"b0"}},
		{"the sides return different constants", `
	test %edi, %edi
b1:	je 1f
	mov $-22, %eax
	ret
1:	xor %eax, %eax
	ret`, 4, nil, []string{"b1"}},
		{"the same constant through an epilogue with a stack protector (gcc -O0)", `
	cmpl $0, -20(%rbp)
b1:	jne 1f
	mov $-22, %eax
	jmp 2f
1:	mov $-22, %eax
2:	mov -8(%rbp), %rdx
	sub %fs:40, %rdx
c1:	je 3f
	call __stack_chk_fail
3:	leave
	ret
__stack_chk_fail:
	ret`, 4, []string{"b1"}, nil},
		{"the same constant stored to the return slot, then loaded (clang -O0)", `
	cmpl $0, -8(%rbp)
b1:	je 1f
	movl $-22, -4(%rbp)
	jmp 2f
1:	movl $-22, -4(%rbp)
2:	mov -4(%rbp), %eax
	add $16, %rsp
	pop %rbp
	ret`, 4, []string{"b1"}, nil},
		{"a call between the store and the load forgets the slot", `
	cmpl $0, -8(%rbp)
b1:	je 1f
	movl $-22, -4(%rbp)
	jmp 2f
1:	movl $-22, -4(%rbp)
2:	call f
	mov -4(%rbp), %eax
	pop %rbp
	ret
f:	ret`, 4, nil, []string{"b1"}},
		{"a write through a pointer forgets the slot", `
	cmpl $0, -8(%rbp)
b1:	je 1f
	movl $-22, -4(%rbp)
	jmp 2f
1:	movl $-22, -4(%rbp)
2:	movl $0, (%rdx)
	mov -4(%rbp), %eax
	pop %rbp
	ret`, 4, nil, []string{"b1"}},
		{"a write to a global leaves the slot", `
	cmpl $0, -8(%rbp)
b1:	je 1f
	movl $-22, -4(%rbp)
	jmp 2f
1:	movl $-22, -4(%rbp)
2:	movl $0, sink(%rip)
	mov -4(%rbp), %eax
	pop %rbp
	ret
sink:	.long 0`, 4, []string{"b1"}, nil},
		{"a side that reaches a kept branch may lead elsewhere", `
	test %edi, %edi
b1:	je 1f
	xor %eax, %eax
	ret
1:	test %esi, %esi
b2:	js 2f
	xor %eax, %eax
	ret
2:	mov $-1, %eax
	ret`, 4, nil, []string{"b1", "b2"}},
		{"a chain of non-deciding branches", `
	test %edi, %edi
b1:	je 1f
	mov $-22, %eax
	ret
1:	test %esi, %esi
b2:	js 2f
	mov $-22, %eax
	ret
2:	mov $-22, %eax
	ret`, 4, []string{"b1", "b2"}, nil},
		{"the register tested is the one returned: zero on the side that jumps", `
	mov %rdi, %rax
	test %rax, %rax
b1:	je 1f
	xor %eax, %eax
1:	ret`, 8, []string{"b1"}, nil},
		{"a value loaded, tested and returned: zero on the side that jumps", `
	mov (%rdi), %rax
	test %rax, %rax
b1:	je 1f
	xor %eax, %eax
1:	ret`, 8, []string{"b1"}, nil},
		{"the same register returned untouched", `
	mov %esi, %eax
	test %rdi, %rdi
b1:	je 1f
	movl $1, (%rdi)
1:	ret`, 4, []string{"b1"}, nil},
		{"a call's result may differ between the sides", `
	test %edi, %edi
b1:	je 1f
	call f
	ret
1:	call f
	ret
f:	ret`, 8, nil, []string{"b1"}},
		{"a tail call gives up", `
	test %edi, %edi
b1:	je 1f
	xor %eax, %eax
	ret
1:	xor %eax, %eax
	.byte 0xe9
	.long 0x1000 # jmp .+0x1005, beyond the code`, 4, nil, []string{"b1"}},
		{"a loop back to the branch gives up", `
	xor %eax, %eax
1:	add $1, %edi
	cmp $8, %edi
b1:	jb 1b
	xor %eax, %eax
	ret`, 4, nil, []string{"b1"}},
		{"a call that never returns returns nothing", `
	test %edi, %edi
b1:	je 1f
	call abort
1:	xor %eax, %eax
	ret
abort:	ret`, 4, []string{"b1"}, nil},
		{"an instruction the model does not know forgets everything", `
	mov $-22, %eax
	test %edi, %edi
b1:	je 1f
	cpuid
1:	ret`, 4, nil, []string{"b1"}},
		{"an int's upper half does not count", `
	test %edi, %edi
b1:	je 1f
	mov $-22, %eax
	ret
1:	mov $-22, %rax
	ret`, 4, []string{"b1"}, nil},
		{"a long's does", `
	test %edi, %edi
b1:	je 1f
	mov $-22, %eax
	ret
1:	mov $-22, %rax
	ret`, 8, nil, []string{"b1"}},
		{"no return value to compare (size 0)", `
	test %edi, %edi
b1:	je 1f
	xor %eax, %eax
1:	xor %eax, %eax
	ret`, 0, nil, []string{"b1"}},
		{"a conditional move is never non-deciding", `
	xor %eax, %eax
	cmp %esi, %edi
b1:	cmovl %esi, %eax
	xor %eax, %eax
	ret`, 4, nil, []string{"b1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nd, keep := probedLabels(t, c.src, c.size)
			if strings.Join(nd, " ") != strings.Join(c.nd, " ") || strings.Join(keep, " ") != strings.Join(c.keep, " ") {
				t.Errorf("non-deciding %v, kept %v; want %v and %v", nd, keep, c.nd, c.keep)
			}
		})
	}
}

// TestKeptProbesNaive: --placement=naive (superseded false) keeps the
// branches another probed branch always follows, and leaves out the
// non-deciding ones all the same.
func TestKeptProbesNaive(t *testing.T) {
	ins, labels := assemble(t, `
	cmp $1, %edi
b1:	je 1f
	add $2, %edi
1:	cmp $8, %edi
b2:	jg 2f
	ret
2:	test %esi, %esi
b3:	je 3f
	movl $0, (%rdx)
3:	mov $-22, %eax
	ret`)
	name := map[uint64]string{}
	for l, a := range labels {
		name[a] = l
	}
	var probed []int
	for k := range ins {
		if isJcc(ins[k].inst.Op) {
			probed = append(probed, k)
		}
	}
	for _, c := range []struct {
		superseded bool
		want       string
	}{{true, "b2"}, {false, "b1 b2"}} {
		keep, nd := keptProbes(ins, probed, leaders(ins), 0, func(uint64) string { return "" }, 4, c.superseded)
		var got []string
		for k := range keep {
			got = append(got, name[ins[k].pc])
		}
		sort.Strings(got)
		if strings.Join(got, " ") != c.want || len(nd) != 1 {
			t.Errorf("superseded %v: kept %v, %d non-deciding; want %s and 1 (b3)", c.superseded, got, len(nd), c.want)
		}
	}
}
