package tracer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	fx "github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/guest"
)

// kernelCase is one whythefail command line run in the guest, and what
// its one trace must show: statements found by their text in the kernel's
// source, after the function's definition (header).
type kernelCase struct {
	name   string
	target string
	fn     string
	cond   string
	vars   string // VARIABLE, "" for $$vars
	cmd    string // -c
	flags  string // more flags, for sh
	status int    // the command's exit status, which whythefail passes on
	comm   string
	ret    string // the trace's $return as printed

	file   string // source file, as the trace names it
	header string // the line that starts the function's definition
	want   []want
	absent []string // statements the failing path never runs
	source bool     // each wanted statement's source text follows it
	// refused is whythefail's one line when the kernel cannot trace the
	// function.
	refused string
	// calls are the "call:" lines the trace must show, in order (with
	// --follow, or for a function traced at its boundary), each at its
	// line in file found by its text after header; origin is the callee
	// the "origin:" line must name.
	calls  []wantCall
	origin string
	// originWant are the origin's statements the re-run must show after
	// the "origin's statements: ORIGIN, ..." line (--follow with -c),
	// found by their text after originHeader in originFile (file when
	// "").
	originFile   string
	originHeader string
	originWant   []want
	// originOpening says the origin's first statement is its opening
	// line: originHeader's own, or its opening brace's.
	originOpening bool
	// output are more lines, or parts of lines, the output must have.
	output []string
}

// wantCall is one call the trace must show, and what it returned.
type wantCall struct {
	callee, text, ret string
}

// want is one statement the trace must show, and what its variables must
// include.
type want struct {
	text string
	vars string
}

var kernelCases = []kernelCase{
	// The article's first line: Debian's kernel builds __do_sys_* notrace
	// (the kernel's inline is notrace, and SYSCALL_DEFINE's inner
	// function is inline), and its kprobe events refuse notrace functions
	// (no CONFIG_KPROBE_EVENTS_ON_NOTRACE): one line says so, and the
	// function is traced at its boundary, its syscall wrapper, with the
	// calls it makes seen at its callees.
	{name: "perf_event_open", target: "kernel", fn: "__do_sys_perf_event_open", cond: "$return == -22", cmd: "./perfopen", status: 1, comm: "perfopen", ret: "-22",
		file: "kernel/events/core.c", header: "SYSCALL_DEFINE5(perf_event_open,",
		calls: []wantCall{{"perf_copy_attr", "err = perf_copy_attr(attr_uptr, &attr);", "-22"}}, origin: "perf_copy_attr",
		output: []string{"whythefail: note: __do_sys_perf_event_open's statements cannot be shown: __do_sys_perf_event_open is notrace (not in available_filter_functions), and the kernel's kprobe events refuse notrace functions, so BPF kprobes refuse every address in it; it is traced at its boundary: its calls by __x64_sys_perf_event_open (which returns its value unchanged)"}},
	{name: "perf_event_open --follow", target: "kernel", fn: "__do_sys_perf_event_open", cond: "$return == -22", cmd: "./perfopen", flags: "--follow", status: 1, comm: "perfopen", ret: "-22",
		file: "kernel/events/core.c", header: "SYSCALL_DEFINE5(perf_event_open,",
		calls: []wantCall{{"perf_copy_attr", "err = perf_copy_attr(attr_uptr, &attr);", "-22"}}, origin: "perf_copy_attr",
		// Issue 14's end: the origin's statements, from a second run.
		originHeader: "static int perf_copy_attr(struct perf_event_attr __user *uattr,",
		// Its opening line is probed at perf_copy_attr+0, with the
		// boundary's probe of the callee's entry; FUNCTION has no
		// verdict there, the origin has its own "why:" line.
		originWant: []want{{text: "if (attr->sample_type & PERF_SAMPLE_BRANCH_STACK) {"}, {text: "u64 mask = attr->branch_sample_type;"},
			{text: "if (mask & ~(PERF_SAMPLE_BRANCH_MAX-1))", vars: "mask=0x10000000000"}},
		originOpening: true,
		output:        []string{"whythefail: re-running ./perfopen to trace perf_copy_attr's statements", "origin's statements: perf_copy_attr, in the call perf_copy_attr (", "\nwhy: perf_copy_attr returned -22 (EINVAL) at kernel/events/core.c:"}},
	// A notrace function no caller passes on unchanged (it is called
	// from everywhere, its value tested): refused in one line, as before.
	{name: "notrace without a boundary", target: "kernel", fn: "__list_add_valid", cond: "$return == 0", cmd: "./perfopen", status: 1,
		refused: "the kernel does not allow kprobes in __list_add_valid: __list_add_valid is notrace (not in available_filter_functions), and the kernel's kprobe events refuse notrace functions"},
	// --follow=1 in a function the kernel lets BPF probe: call sites and
	// return addresses inside it, as in user space.
	{name: "openat --follow=1", target: "kernel", fn: "do_sys_openat2", cond: "$return == -2", cmd: "./openmissing 1", flags: "--follow=1", status: 1, comm: "openmissing", ret: "-2",
		file: "fs/open.c", header: "static long do_sys_openat2(int dfd, const char __user *filename,",
		want:  []want{{text: "struct file *f = do_filp_open(dfd, tmp, &op);"}},
		calls: []wantCall{{"do_filp_open", "struct file *f = do_filp_open(dfd, tmp, &op);", "-2"}}, origin: "do_filp_open",
		originFile: "fs/namei.c", originHeader: "struct file *do_filp_open(int dfd, struct filename *pathname,",
		originWant: []want{{text: "filp = path_openat(&nd, op, flags | LOOKUP_RCU);"}, {text: "if (unlikely(filp == ERR_PTR(-ECHILD)))", vars: "filp=0xfffffffffffffffe"},
			{text: "return filp;", vars: "filp=0xfffffffffffffffe"}}},
	// The default depth, 3: the calls path_openat makes are recorded
	// too (link_path_walk's, a gcc clone named by its symbol, among
	// them); the origin is that clone, three levels down: the walk of
	// the missing directory failed with -ENOENT, which path_openat
	// returned as a pointer. The clone is not in the vmlinux's BTF: its
	// int is typed from the DWARF instance at its address. Its
	// statements are not traced (the function index does not hold
	// clones): a line says so, and there is no further re-run. One level
	// per run, the last run traced path_openat's statements, and its
	// trace prints them, the chain passing through that call.
	{name: "openat --follow", target: "kernel", fn: "do_sys_openat2", cond: "$return == -2", cmd: "./openmissing 1", flags: "--follow", status: 1, comm: "openmissing", ret: "-2",
		file: "fs/open.c", header: "static long do_sys_openat2(int dfd, const char __user *filename,",
		calls: []wantCall{{"do_filp_open", "struct file *f = do_filp_open(dfd, tmp, &op);", "-2"}}, origin: "link_path_walk.part.0.constprop.0",
		originFile: "fs/namei.c",
		output: []string{"whythefail: re-running ./openmissing 1 to follow do_filp_open's calls and trace its statements\n",
			"whythefail: re-running ./openmissing 1 again to follow path_openat's calls and trace its statements\n",
			"\norigin's statements: not traced; those of path_openat, which the chain passes through, in the call path_openat (in do_filp_open), call 1 from that site:\n", "\ncall:   path_openat (in do_filp_open) returned -2\n", "\ncall:     link_path_walk.part.0.constprop.0 (in path_openat) returned -2\n",
			"\norigin: link_path_walk.part.0.constprop.0 (in path_openat) returned -2, passed up\n",
			"\nchain: do_sys_openat2 → do_filp_open (fs/open.c:@do_filp_open) returned -2 → path_openat returned -2 → link_path_walk.part.0.constprop.0 returned -2\n",
			"whythefail: link_path_walk.part.0.constprop.0 is a copy gcc made of link_path_walk (a clone), which the debug info's function index does not hold: its statements cannot be traced\n"}},
	{name: "perf_copy_attr", target: "kernel", fn: "perf_copy_attr", cond: "$return == -22", cmd: "./perfopen", status: 1, comm: "perfopen", ret: "-22",
		file: "kernel/events/core.c", header: "static int perf_copy_attr(struct perf_event_attr __user *uattr,",
		want: []want{{text: "if (attr->sample_type & PERF_SAMPLE_BRANCH_STACK) {"}, {text: "u64 mask = attr->branch_sample_type;"},
			{text: "if (mask & ~(PERF_SAMPLE_BRANCH_MAX-1))", vars: "mask=0x10000000000"}}},
	{name: "9pnet", target: `module("9pnet")`, fn: "p9_client_create", cond: "$return == -22", cmd: "mount -t 9p -o trans=virtio,version=bogus host /mnt/x", status: 255, comm: "mount", ret: "0xffffffffffffffea",
		file: "net/9p/client.c", header: "struct p9_client *p9_client_create(const char *dev_name, char *options)",
		want: []want{{text: "err = parse_opts(options, clnt);"}}},
	// A module's static variable, placed where /sys/module/9pnet/sections
	// says the kernel loaded its section: p9_client_create's seqno counts
	// the 9p clients created, and the guest's /init mounted two 9p
	// shares (ctl and host) before the cases; this mount fails before
	// counting.
	{name: "9pnet static", target: `module("9pnet")`, fn: "p9_client_create", cond: "$return == -22", vars: "$seqno->counter", cmd: "mount -t 9p -o trans=virtio,version=bogus host /mnt/x", status: 255, comm: "mount", ret: "0xffffffffffffffea",
		file: "net/9p/client.c", header: "struct p9_client *p9_client_create(const char *dev_name, char *options)",
		want: []want{{text: "err = parse_opts(options, clnt);", vars: "2"}}},
	// --follow in a module: the .ko's relocations name the calls (its
	// code holds no targets until the kernel loads it). parse_opts and
	// get_protocol_version are inlined into p9_client_create, whose calls
	// of the kernel's strsep, match_token and strcmp are its own; no call
	// returned the value: the origin is p9_client_create itself (the
	// statements show where). Its static call and jump label sites
	// (tracepoints) get no kprobe.
	{name: "9pnet --follow", target: `module("9pnet")`, fn: "p9_client_create", cond: "$return == -22", cmd: "mount -t 9p -o trans=virtio,version=bogus host /mnt/x", flags: "--follow", status: 255, comm: "mount", ret: "0xffffffffffffffea",
		file: "net/9p/client.c", header: "struct p9_client *p9_client_create(const char *dev_name, char *options)",
		want:   []want{{text: "err = parse_opts(options, clnt);"}},
		output: []string{"call: strsep (net/9p/client.c:", "call: strcmp (net/9p/client.c:", "origin: p9_client_create itself (no call returned 0xffffffffffffffea)"}},
	{name: "openat", target: "kernel", fn: "do_sys_openat2", cond: "$return == -2", cmd: "./openmissing 1", status: 1, comm: "openmissing", ret: "-2",
		file: "fs/open.c", header: "static long do_sys_openat2(int dfd, const char __user *filename,",
		want:   []want{{text: "tmp = getname(filename);"}, {text: "struct file *f = do_filp_open(dfd, tmp, &op);"}, {text: "fd = PTR_ERR(f);", vars: "f=0xfffffffffffffffe"}},
		absent: []string{"fd_install(fd, f);"}},
	// --source with a local tree: the relative paths of Debian's
	// vmlinux looked up under it.
	{name: "perf_copy_attr --source", target: "kernel", fn: "perf_copy_attr", cond: "$return == -22", cmd: "./perfopen", flags: "--source --source-path .=/host/src/" + srcTop, status: 1, comm: "perfopen", ret: "-22",
		file: "kernel/events/core.c", header: "static int perf_copy_attr(struct perf_event_attr __user *uattr,",
		want:   []want{{text: "if (mask & ~(PERF_SAMPLE_BRANCH_MAX-1))", vars: "mask=0x10000000000"}},
		source: true},
}

// processCases choose the traced tasks without -c: -x PID (the process
// and its children; an outsider opening the same missing file is not
// traced), and neither (every task, here stopped by --max-traces). Each
// waits for whythefail's "probes attached" before the opens.
var processCases = []struct {
	name, script string
	traces       int
	status       int
	want         []string // more lines or parts of lines the output has
	// fn and comm are the traced function and the command whose
	// traces are counted: do_sys_openat2 and openmissing when "".
	fn, comm string
}{
	{"-x PID", `mkfifo /tmp/gate; cp openmissing /tmp/outsider
./openmissing 2 wait </tmp/gate & p=$!
./whythefail --debug-dir /host/debug --no-group kernel do_sys_openat2 '$return == -2' -x $p -o /tmp/x.out 2>/tmp/x.err & w=$!
until grep -q 'probes attached' /tmp/x.err; do sleep 1; done
/tmp/outsider 1; echo go >/tmp/gate
wait $w; st=$?; cat /tmp/x.err /tmp/x.out; exit $st`, 2, 0, nil, "", ""},
	{"every task", `./whythefail --debug-dir /host/debug --no-group --max-traces 2 kernel do_sys_openat2 '$return == -2' -o /tmp/a.out 2>/tmp/a.err & w=$!
until grep -q 'probes attached' /tmp/a.err; do sleep 1; done
./openmissing 2
wait $w; st=$?; cat /tmp/a.err /tmp/a.out; exit $st`, 2, 0, nil, "", ""},
	// --follow with -x: the origin's statements are placed once the
	// first failure named the origin (perf_copy_attr, at the boundary
	// of __do_sys_perf_event_open), and printed with the next failure,
	// its opening line and its mask test among them, and its "why:"
	// line. perfopen makes its second call once they are placed.
	{"-x PID --follow", `mkfifo /tmp/pgate
./perfopen 2 wait </tmp/pgate & p=$!
exec 3>/tmp/pgate
./whythefail --debug-dir /host/debug --no-group kernel __do_sys_perf_event_open '$return == -22' --follow -x $p -o /tmp/p.out 2>/tmp/p.err & w=$!
until grep -q 'probes attached' /tmp/p.err; do sleep 1; done
echo go >&3
i=0; until grep -q 'statements are traced from now on' /tmp/p.err || [ $i -ge 600 ]; do sleep 1; i=$((i+1)); done
echo go >&3; exec 3>&-
wait $w; st=$?; cat /tmp/p.err /tmp/p.out; exit $st`, 2, 0, []string{
		"whythefail: perf_copy_attr's statements are traced from now on (",
		"\norigin's statements: perf_copy_attr, in the call perf_copy_attr (kernel/events/core.c:",
		" $$vars: uattr=", " mask=0x10000000000", "\nwhy: perf_copy_attr returned -22 (EINVAL) at kernel/events/core.c:"}, "__do_sys_perf_event_open", "perfopen"},
	// No DWARF (no --debug-dir: the guest has no vmlinux), BTF: the
	// function level.
	{"BTF only", `./whythefail --no-group kernel do_sys_openat2 '$return == -2' -c './openmissing 1'`, 1, 1, []string{
		"whythefail: note: no DWARF for kernel ", ": do_sys_openat2 is traced at function level from the kernel's BTF (its entry arguments and return value); for its statements install linux-image-",
		"] do_sys_openat2@entry:0 $$vars: dfd=0xffffffffffffff9c filename=0x4", " how=0xf"}, "", ""},
}

// sourceLine is the number of the first line after the last line that is
// header whose trimmed text is text; 0 when there is none.
func sourceLine(src []string, header, text string) int {
	start := -1
	for i, l := range src {
		if strings.TrimSpace(l) == header {
			start = i
		}
	}
	if start < 0 {
		return 0
	}
	for i := start + 1; i < len(src); i++ {
		if strings.TrimSpace(src[i]) == text {
			return i + 1
		}
	}
	return 0
}

// headerLine is the number of the last line of src whose trimmed text is
// header; 0 when there is none.
func headerLine(src []string, header string) int {
	n := 0
	for i, l := range src {
		if strings.TrimSpace(l) == header {
			n = i + 1
		}
	}
	return n
}

// srcTop stands, in a case's flags, for the top directory of the kernel's
// extracted sources (linux-source-X.Y).
const srcTop = "@TOP@"

// series is a release's X.Y, as linux-source-X.Y names it.
func series(rel string) string { return strings.Join(strings.SplitN(rel, ".", 3)[:2], ".") }

// kernelSources extracts the cases' files from the kernel's source
// package (linux-source-X.Y) into dir, and returns their lines by path.
func kernelSources(t *testing.T, rel, dir string) map[string][]string {
	t.Helper()
	tarball := "/usr/src/linux-source-" + series(rel) + ".tar.xz"
	if _, err := os.Stat(tarball); err != nil {
		fx.Missing(t, "the kernel's sources are missing (run .ci/kernel): %v", err)
	}
	top := "linux-source-" + series(rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-xJf", tarball, "-C", dir}
	files := map[string]bool{}
	for _, c := range kernelCases {
		for _, f := range []string{c.file, c.originFile} {
			if f != "" && !files[f] {
				files[f] = true
				args = append(args, top+"/"+f)
			}
		}
	}
	if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
		t.Fatalf("tar %v: %v\n%s", args, err, out)
	}
	src := map[string][]string{}
	for f := range files {
		b, err := os.ReadFile(filepath.Join(dir, top, f))
		if err != nil {
			t.Fatal(err)
		}
		src[f] = strings.Split(string(b), "\n")
	}
	return src
}

// stmtRE is a statement line of a text trace: COMM[PID] FILE:LINE $$vars: VARS
// (or VARIABLE: VALUE).
var stmtRE = regexp.MustCompile(`^(\S+)\[\d+\] (\S+):(\d+) \S+: ?(.*)$`)

// checkKernelTrace checks a case's output: exactly one trace, of the
// command, returning the value wanted, through the statements wanted (in
// order) and none of the absent ones, with the statistics.
func checkKernelTrace(t *testing.T, c kernelCase, r guest.Result, srcs map[string][]string) {
	t.Helper()
	src := srcs[c.file]
	ofile := c.file
	if c.originFile != "" {
		ofile = c.originFile
	}
	if r.Status != c.status {
		t.Errorf("%s: exit status %d, want %d (the command's)", c.name, r.Status, c.status)
	}
	lines := strings.Split(r.Output, "\n")
	if c.refused != "" {
		if lines[0] != "whythefail: "+c.refused || !strings.HasPrefix(lines[1], "[guest seconds") {
			t.Errorf("%s: output %q, want the one line %q", c.name, r.Output, "whythefail: "+c.refused)
		}
		return
	}
	head := fmt.Sprintf("] %s function(%s) $return: %s", c.target, c.fn, c.ret)
	heads := 0
	type stmt struct {
		line  int
		vars  string
		after string // the next line of output
		at    int    // its index in lines
	}
	var stmts []stmt
	originAt := len(lines)
	for i, l := range lines {
		// The origin's statements, or, when they cannot be traced,
		// those of the call on the chain the last run traced.
		if c.origin != "" && strings.HasPrefix(l, "origin's statements: ") && originAt == len(lines) {
			originAt = i
		}
		if strings.HasPrefix(l, c.comm+"[") && strings.HasSuffix(l, head) {
			heads++
		}
		if m := stmtRE.FindStringSubmatch(l); m != nil {
			if file := map[bool]string{false: c.file, true: ofile}[i > originAt]; m[1] != c.comm || m[2] != file {
				t.Errorf("%s: statement of %s in %s, want %s in %s: %s", c.name, m[1], m[2], c.comm, file, l)
			}
			n, _ := strconv.Atoi(m[3])
			after := ""
			if i+1 < len(lines) {
				after = lines[i+1]
			}
			stmts = append(stmts, stmt{n, m[4], after, i})
		}
	}
	if heads != 1 {
		t.Errorf("%s: %d traces ending with %q, want 1", c.name, heads, head)
	}
	for _, s := range []string{"exit-hit count: 1\n", "statement count: "} {
		if !strings.Contains(r.Output, s) {
			t.Errorf("%s: no %q in the statistics", c.name, s)
		}
	}
	next := 0
	for _, w := range c.want {
		n := sourceLine(src, c.header, w.text)
		if n == 0 {
			t.Fatalf("%s: %q is not in %s after %q", c.name, w.text, c.file, c.header)
		}
		found := false
		for i := next; i < len(stmts); i++ {
			if stmts[i].at < originAt && stmts[i].line == n && (w.vars == "" || strings.Contains(" "+stmts[i].vars+" ", " "+w.vars+" ")) {
				found, next = true, i+1
				if c.source && !strings.Contains(stmts[i].after, strings.TrimSpace(src[n-1])) {
					t.Errorf("%s: statement %s:%d is not followed by its source text %q", c.name, c.file, n, strings.TrimSpace(src[n-1]))
				}
				break
			}
		}
		if !found {
			t.Errorf("%s: no statement %s:%d (%s) with %q after the previous one wanted", c.name, c.file, n, w.text, w.vars)
		}
	}
	if c.originOpening {
		// The opening line: gcc's first row is the header's line or its
		// opening brace's.
		n, brace := headerLine(srcs[ofile], c.originHeader), sourceLine(srcs[ofile], c.originHeader, "{")
		first := 0
		for _, s := range stmts {
			if s.at > originAt {
				first = s.line
				break
			}
		}
		if n == 0 || brace == 0 || first < n || first > brace {
			t.Errorf("%s: the origin's first statement is at line %d, want its opening line, %s:%d to %d", c.name, first, ofile, n, brace)
		}
	}
	next = 0
	for _, w := range c.originWant {
		n := sourceLine(srcs[ofile], c.originHeader, w.text)
		if n == 0 {
			t.Fatalf("%s: %q is not in %s after %q", c.name, w.text, ofile, c.originHeader)
		}
		found := false
		for i := next; i < len(stmts); i++ {
			if stmts[i].at > originAt && stmts[i].line == n && (w.vars == "" || strings.Contains(" "+stmts[i].vars+" ", " "+w.vars+" ")) {
				found, next = true, i+1
				break
			}
		}
		if !found {
			t.Errorf("%s: no statement of %s %s:%d (%s) with %q after the previous one wanted", c.name, c.origin, ofile, n, w.text, w.vars)
		}
	}
	checkCalls(t, c, lines, src)
	for _, text := range c.absent {
		n := sourceLine(src, c.header, text)
		for _, s := range stmts {
			if n == 0 || (s.at < originAt && s.line == n) {
				t.Errorf("%s: statement %s:%d (%s) traced, or not in the source", c.name, c.file, n, text)
				break
			}
		}
	}
}

// variableArg is the VARIABLE argument v for sh, with its space before
// it; nothing when v is "".
func variableArg(v string) string {
	if v == "" {
		return ""
	}
	return " " + shellQuote(v)
}

// checkCalls checks a case's "call:" lines (in order, each at its line
// found by its text), its "origin:" line and its other wanted output.
func checkCalls(t *testing.T, c kernelCase, lines []string, src []string) {
	t.Helper()
	next := 0
	for _, w := range c.calls {
		n := sourceLine(src, c.header, w.text)
		if n == 0 {
			t.Fatalf("%s: %q is not in %s after %q", c.name, w.text, c.file, c.header)
		}
		line := fmt.Sprintf("call: %s (%s:%d) returned %s", w.callee, c.file, n, w.ret)
		found := false
		for i := next; i < len(lines); i++ {
			if lines[i] == line {
				found, next = true, i+1
				break
			}
		}
		if !found {
			t.Errorf("%s: no line %q after the previous call wanted", c.name, line)
		}
	}
	if c.origin != "" {
		origins := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "origin: ") {
				origins++
				if !strings.HasPrefix(l, "origin: "+c.origin+" (") {
					t.Errorf("%s: %q, want the origin %s", c.name, l, c.origin)
				}
			}
		}
		if origins != 1 {
			t.Errorf("%s: %d origin: lines, want 1", c.name, origins)
		}
	}
	out := strings.Join(lines, "\n")
	for _, w := range c.output {
		if strings.Contains(w, "@do_filp_open") {
			n := sourceLine(src, c.header, "struct file *f = do_filp_open(dfd, tmp, &op);")
			w = strings.ReplaceAll(w, "@do_filp_open", strconv.Itoa(n))
		}
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in the output", c.name, w)
		}
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// linkOrCopy makes dst the file src: a hard link when both are on one
// file system, else a copy.
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Link(src, dst) == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKernelGuest traces kernel and module functions with the whythefail
// command in the guest (Debian's stock kernel, which has kprobes). The
// host shares the static whythefail, the test programs, the guest kernel's
// vmlinux and 9pnet.ko debug files (as a --debug-dir) and the function
// index, built here by preparing each case (WHYTHEFAIL_CACHE_DIR), as a
// user would prepare a small machine.
func TestKernelGuest(t *testing.T) {
	if guest.Inside() {
		t.Skip("in the guest")
	}
	k := guest.Require(t)
	share := t.TempDir()
	debug := filepath.Join(share, "debug")
	vmlinux := "/usr/lib/debug/boot/vmlinux-" + k.Release
	ko := "/usr/lib/debug/lib/modules/" + k.Release + "/kernel/net/9p/9pnet.ko"
	for _, f := range []string{vmlinux, ko} {
		if _, err := os.Stat(f); err != nil {
			fx.Missing(t, "the guest kernel's debug files are missing (run .ci/kernel): %v", err)
		}
	}
	linkOrCopy(t, vmlinux, filepath.Join(debug, "boot", "vmlinux-"+k.Release))
	linkOrCopy(t, ko, filepath.Join(debug, "lib/modules", k.Release, "kernel/net/9p/9pnet.ko"))
	linkOrCopy(t, fx.Whythefail(t), filepath.Join(share, "whythefail"))
	guest.Program(t, share, "perfopen")
	guest.Program(t, share, "openmissing")
	cache := filepath.Join(share, "cache")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", cache)
	start := time.Now()
	for _, c := range kernelCases {
		if c.refused != "" {
			continue
		}
		if _, err := prepareOther(t, Config{Target: c.target, Function: c.fn, Condition: c.cond, Variable: c.vars, Release: k.Release}); err != nil {
			t.Fatalf("%s: preparing on the host: %v", c.name, err)
		}
	}
	t.Logf("host: function index of %s built and all cases prepared in %.1f s", k.Release, time.Since(start).Seconds())

	var cases []guest.Case
	for _, c := range kernelCases {
		cases = append(cases, guest.Case{Name: c.name, Script: "mkdir -p /mnt/x; export WHYTHEFAIL_CACHE_DIR=/host/cache; s=$(date +%s); " +
			"./whythefail --debug-dir /host/debug --no-group " + strings.ReplaceAll(c.flags, srcTop, "linux-source-"+series(k.Release)) + " " + shellQuote(c.target) + " " + c.fn + " " + shellQuote(c.cond) + variableArg(c.vars) + " -c " + shellQuote(c.cmd) +
			"; st=$?; echo \"[guest seconds: $(( $(date +%s) - s ))]\"; exit $st"})
	}
	for _, c := range processCases {
		cases = append(cases, guest.Case{Name: c.name, Script: "export WHYTHEFAIL_CACHE_DIR=/host/cache; " + c.script})
	}
	src := kernelSources(t, k.Release, filepath.Join(share, "src"))
	res := k.MustRun(t, guest.Config{Share: share, Timeout: 25 * time.Minute, Cases: cases})
	for i, c := range processCases {
		r := res[len(kernelCases)+i]
		t.Logf("%s (status %d):\n%s", c.name, r.Status, r.Output)
		head, comm := "] kernel function(do_sys_openat2) $return: -2\n", "openmissing["
		if c.fn != "" {
			head, comm = "] kernel function("+c.fn+") $return: -22\n", c.comm+"["
		}
		heads := strings.Count(r.Output, head)
		mine := strings.Count(r.Output, comm)
		for _, w := range c.want {
			if !strings.Contains(r.Output, w) {
				t.Errorf("%s: no %q in the output", c.name, w)
			}
		}
		if r.Status != c.status || heads != c.traces || !strings.Contains(r.Output, fmt.Sprintf("exit-hit count: %d\n", c.traces)) || mine < c.traces {
			t.Errorf("%s: status %d, %d traces (%d lines of openmissing), want %d, %d traces, all of openmissing:\n%s", c.name, r.Status, heads, mine, c.status, c.traces, r.Output)
		}
		if strings.Contains(r.Output, "outsider[") {
			t.Errorf("%s: a process outside -x was traced", c.name)
		}
	}
	for i, r := range res[:len(kernelCases)] {
		t.Logf("%s (status %d):\n%s", kernelCases[i].name, r.Status, r.Output)
		if c := kernelCases[i]; c.refused == "" {
			checkKernelTrace(t, c, r, src)
		} else {
			checkKernelTrace(t, c, r, nil)
		}
	}
}
