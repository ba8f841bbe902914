package cli_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// gdbGetenvStrlen runs prog under gdb to its done and reads, in glibc's
// getenv, the first call through libc's own PLT to an ifunc (an entry
// gdb names *ABS*+RESOLVER@plt: an IRELATIVE slot): the call's file and
// line, the resolver's link-time address, and what "info symbol" says the
// entry's GOT slot points to.
func gdbGetenvStrlen(t *testing.T, prog string) (file string, line int, resolver uint64, impl string) {
	t.Helper()
	fixture.NeedTool(t, "gdb")
	script := filepath.Join(t.TempDir(), "getenv.gdb")
	const text = `set debuginfod enabled off
break done
run >/dev/null
python
import gdb, re
d = gdb.execute('disassemble getenv', to_string=True)
m = re.search(r'^\s*(0x[0-9a-f]+) <\+\d+>:\s+call\s+(0x[0-9a-f]+) <\*ABS\*\+(0x[0-9a-f]+)@plt>', d, re.M)
site, plt, res = m.groups()
slot = re.search(r'# (0x[0-9a-f]+)', gdb.execute('x/i ' + plt, to_string=True)).group(1)
print('RESOLVER ' + res)
print('LINE ' + gdb.execute('info line *' + site, to_string=True).strip())
print('IMPL ' + gdb.execute('info symbol *(void**)' + slot, to_string=True).strip())
end
`
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gdb", "-nx", "-batch", "-x", script, prog).Output()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	lineRE := regexp.MustCompile(`^LINE Line (\d+) of "([^"]+)"`)
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "RESOLVER "); ok {
			resolver, _ = strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		}
		if m := lineRE.FindStringSubmatch(l); m != nil {
			line, _ = strconv.Atoi(m[1])
			file = m[2]
		}
		if v, ok := strings.CutPrefix(l, "IMPL "); ok {
			sym, sec, _ := strings.Cut(v, " in section ")
			if strings.HasPrefix(sec, ".text of /") && !strings.Contains(sym, "+") {
				impl = sym
			}
		}
	}
	if file == "" || resolver == 0 || impl == "" {
		t.Fatalf("gdb did not find getenv's call through libc's PLT to an ifunc, its line and the implementation:\n%s", out)
	}
	return file, line, resolver, impl
}

// TestFollowIfuncInLibc: a library's own calls to its ifuncs go through
// PLT entries whose GOT slots are IRELATIVE (no symbol names them):
// glibc's getenv, asked for a variable that is not set, calls strlen so
// and returns NULL. The call is named by the implementation gdb finds in
// the slot, and by the ifunc (the symbol at the relocation's resolver).
func TestFollowIfuncInLibc(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "ifunc", fixture.Default)
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	file, line, resolver, impl := gdbGetenvStrlen(t, b.Path)
	f, err := elf.Open(libc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.DynamicSymbols()
	ifunc := ""
	for _, s := range syms {
		if s.Value == resolver && elf.ST_TYPE(s.Info) == elf.STT_GNU_IFUNC {
			ifunc, _, _ = strings.Cut(s.Name, "@")
		}
	}
	if ifunc == "" {
		t.Fatalf("no ifunc symbol of %s at %#x", libc, resolver)
	}
	r := followRun(t, true, fmt.Sprintf("process(%q)", libc), "getenv", "$return == 0", "--follow", "-c", b.Path+" >/dev/null")
	got, _, _ := followLines(t, r.stdout)
	want := []string{
		fmt.Sprintf("call: %s (%s:%d) returned %#x, its own calls not followed (chosen at run time by the ifunc %s)", impl, file, line, len("ZQ_WHYTHEFAIL_UNSET"), ifunc),
		"origin: getenv itself (no call returned 0x0)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFollowIfuncOrigin: order returns what strcmp returned, so the
// implementation strcmp's resolver chose (gdb names it from the GOT slot)
// is the origin, and the -c command is re-run to trace its statements,
// following its calls as for a callee reached through a pointer. glibc's
// implementations are assembly, which the kernel may refuse uprobes in
// (VEX and EVEX instructions): then a line says the statements are not
// traced and the first run's traces stand; otherwise the re-run's print,
// with the origin's statements and the implementation followed.
func TestFollowIfuncOrigin(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("ifunc"))
	b := fixture.Build(t, "ifunc", fixture.Default)
	_, after := gdbSlots(t, b.Path, "strcmp")
	impl, sec, _ := strings.Cut(after["strcmp"], " in section ")
	if !strings.HasPrefix(sec, ".text of /") || strings.Contains(impl, "+") {
		t.Fatalf("gdb: strcmp's slot after the call: %q, want a function's start in a library", after["strcmp"])
	}
	at := fmt.Sprintf("(/fixture/src/ifunc.c:%d)", m["order-strcmp"])
	r := followRun(t, true, fmt.Sprintf("process(%q)", b.Path), "order", "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
	rerun := fmt.Sprintf("whythefail: re-running %s >/dev/null to trace %s's statements\n", b.Path, impl)
	refused := regexp.MustCompile(`(?m)^whythefail: ` + regexp.QuoteMeta(impl) + `'s statements are not traced: attaching \d+ statement probes in /\S+: .* \(the kernel refused a probe there\): the first run's traces follow$`)
	if !strings.Contains(r.stderr, rerun) {
		t.Fatalf("stderr %q: want %q", r.stderr, rerun)
	}
	heading, _ := originSection(t, r.stdout)
	call := fmt.Sprintf("call: %s %s returned -1", impl, at)
	if refused.MatchString(r.stderr) {
		if heading != "" {
			t.Errorf("origin's statements %q after a refused re-run", heading)
		}
		call += ", its own calls not followed (chosen at run time by the ifunc strcmp)"
	} else if want := "origin's statements: " + impl + ", in the call "; !strings.HasPrefix(heading, want) {
		t.Errorf("the re-run was not refused (stderr %q) and its origin's statements heading is %q, want one starting %q", r.stderr, heading, want)
	}
	want := []string{
		call,
		fmt.Sprintf("origin: %s %s returned -1, passed up", impl, at),
		fmt.Sprintf("chain: order → %s %s returned -1", impl, at),
	}
	if got, _, _ := followLines(t, r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
