package target

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestModuleBranchTarget: in 9pnet.ko, whose code holds no call targets
// until the kernel loads it, every PC-relative relocation objdump -dr
// shows in p9_client_create is what BranchTarget finds at the field's
// layout address: the symbol, with its layout address when the module
// defines it and 0 for the kernel's.
func TestModuleBranchTarget(t *testing.T) {
	path := debugModule(t)
	fixture.NeedTool(t, "objdump")
	m, err := OpenModule(context.Background(), "9pnet", KernelOptions{Release: testRelease})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	raw := elfSymbol(t, path, "p9_client_create")
	out, err := exec.Command("objdump", "-dr", "--disassemble=p9_client_create", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]uint64{}
	for _, s := range m.Symbols() {
		defined[s.Name] = s.Value
	}
	re := regexp.MustCompile(`(?m)^\s+([0-9a-f]+): R_X86_64_(?:PLT32|PC32)\s+([A-Za-z_][\w.]*)-0x4$`)
	n, local := 0, 0
	for _, mt := range re.FindAllStringSubmatch(string(out), -1) {
		off, _ := strconv.ParseUint(mt[1], 16, 64)
		name, va, ok := m.BranchTarget(m.addrs[raw.Section] + off)
		want, isLocal := defined[mt[2]]
		if !ok || name != mt[2] || va != want {
			t.Errorf("%s: BranchTarget = %q, %#x, %v; want %q, %#x", mt[1], name, va, ok, mt[2], want)
		}
		n++
		if isLocal {
			local++
		}
	}
	if n < 20 || local == 0 || local == n {
		t.Errorf("%d relocations, %d of the module's own functions: want calls of both kinds", n, local)
	}
	if _, _, ok := m.BranchTarget(m.addrs[raw.Section] + raw.Value); ok {
		t.Error("BranchTarget found a relocation at p9_client_create's first byte")
	}
}
