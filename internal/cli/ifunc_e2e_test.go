package cli_test

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// gdbSlots runs prog under gdb and returns, for each name, what gdb's
// "info symbol" says the PLT entry's GOT slot (name@got.plt) points to,
// first when parse_pair starts and then when done runs (after the
// traced call): "__strlen_avx2 in section .text of /lib/.../libc.so.6",
// or "strlen@plt + 6 in section .plt of PROG" while a lazily bound slot
// still points back into the PLT.
func gdbSlots(t *testing.T, prog string, names ...string) (before, after map[string]string) {
	t.Helper()
	fixture.NeedTool(t, "gdb")
	args := []string{"-nx", "-batch", "-ex", "set debuginfod enabled off", "-ex", "break parse_pair", "-ex", "break done", "-ex", "run >/dev/null"}
	info := func() {
		for _, n := range names {
			args = append(args, "-ex", fmt.Sprintf("echo SLOT %s \\n", n), "-ex", fmt.Sprintf("info symbol *(void **) &'%s@got.plt'", n))
		}
	}
	info()
	args = append(args, "-ex", "continue")
	info()
	args = append(args, prog)
	out, err := exec.Command("gdb", args...).Output()
	if err != nil {
		t.Fatalf("gdb %q: %v\n%s", args, err, out)
	}
	before, after = map[string]string{}, map[string]string{}
	cur, name := before, ""
	for _, l := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(l, "SLOT "); ok {
			n = strings.TrimSpace(n)
			if _, seen := cur[n]; seen {
				cur = after
			}
			name = n
			cur[n] = ""
			continue
		}
		if name != "" && strings.Contains(l, " in section ") {
			cur[name] = l
			name = ""
		}
	}
	for _, n := range names {
		if before[n] == "" || after[n] == "" {
			t.Fatalf("gdb named no target for %s's GOT slot:\n%s", n, out)
		}
	}
	return before, after
}

// bindNow reports whether the file asks the dynamic linker to bind every
// symbol at start-up (DT_FLAGS' DF_BIND_NOW or DT_FLAGS_1's DF_1_NOW).
func bindNow(t *testing.T, path string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, _ := f.DynValue(elf.DT_FLAGS)
	flags1, _ := f.DynValue(elf.DT_FLAGS_1)
	return len(flags) > 0 && flags[0]&uint64(elf.DF_BIND_NOW) != 0 || len(flags1) > 0 && flags1[0]&uint64(elf.DF_1_NOW) != 0
}

// TestFollowIfunc: calls through the PLT to glibc's ifuncs (strlen,
// strchr) are named by the implementation the resolver chose in the
// running process, as gdb finds it in the GOT slots once bound, in a
// lazily bound program (whose slots still point into its PLT when
// parse_pair starts: the first call of each goes through the dynamic
// linker) and in one bound at start-up (-z now). The complete --follow
// lines: strchr is called one level down, in the origin check_pair (the
// re-run that traces check_pair's statements prints them).
func TestFollowIfunc(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("ifunc"))
	const file = "/fixture/src/ifunc.c"
	at := func(marker string) string { return fmt.Sprintf("(%s:%d)", file, m[marker]) }
	for _, name := range []string{"ifunc", "ifuncnow"} {
		t.Run(name, func(t *testing.T) {
			b := fixture.Build(t, name, fixture.Default)
			now := bindNow(t, b.Path)
			if now != (name == "ifuncnow") {
				t.Fatalf("%s: bound at start-up %v", b.Path, now)
			}
			before, after := gdbSlots(t, b.Path, "strlen", "strchr")
			impl := map[string]string{}
			for _, n := range []string{"strlen", "strchr"} {
				sym, sec, _ := strings.Cut(after[n], " in section ")
				if !strings.HasPrefix(sec, ".text of /") || strings.Contains(sym, "+") {
					t.Fatalf("gdb: %s's slot after the call: %q, want a function's start in a library", n, after[n])
				}
				impl[n] = sym
				lazy := strings.Contains(before[n], " in section .plt of ")
				if lazy == now {
					t.Fatalf("gdb: %s's slot at parse_pair's start: %q (bound at start-up: %v)", n, before[n], now)
				}
			}
			r := followRun(t, true, fmt.Sprintf("process(%q)", b.Path), "parse_pair", "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
			got, _, _ := followLines(t, r.stdout)
			want := []string{
				fmt.Sprintf("call: %s %s returned 7, its own calls not followed (chosen at run time by the ifunc strlen)", impl["strlen"], at("pair-strlen")),
				fmt.Sprintf("call: check_pair %s returned -22", at("pair-call")),
				fmt.Sprintf("call:   %s %s returned 0, its own calls not followed (chosen at run time by the ifunc strchr)", impl["strchr"], at("check-strchr")),
				fmt.Sprintf("origin: check_pair %s returned -22, passed up", at("pair-call")),
				fmt.Sprintf("chain: parse_pair → check_pair %s returned -22", at("pair-call")),
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
