package session

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/features"

	"github.com/whythefail/whythefail/bpfgen"
)

var variants = []struct{ compiler, opt string }{
	{"gcc", "-O0"}, {"gcc", "-O2"}, {"clang", "-O0"}, {"clang", "-O2"},
}

// TestSession traces check() of whyfail.c in three processes (a loop with
// one failing call, a recursion whose three outer levels fail, four threads
// each with one failing call) plus one process that must not be traced, and
// checks every committed trace, the statistics and the cleanup.
func TestSession(t *testing.T) {
	requireBPF(t)
	for _, v := range variants {
		for _, mode := range []string{"", "single-uprobes", "split"} {
			if mode == "split" && v != variants[0] {
				continue
			}
			t.Run(strings.TrimSuffix(v.compiler+v.opt+"/"+mode, "/"), func(t *testing.T) { testSession(t, v.compiler, v.opt, mode) })
		}
	}
}

// testSession is TestSession for one build of the fixture. Mode "" uses
// uprobe_multi links where the kernel has them; "single-uprobes" the
// fallback of one uprobe per probe point; "split" uprobe_multi links with
// each statement in a program of its own, as a function too large for one
// program gets. All must give the same traces.
func testSession(t *testing.T, compiler, opt, mode string) {
	single := mode == "single-uprobes"
	if mode == "split" {
		defer func(n int) { bpfgen.MaxStmtsInsns = n }(bpfgen.MaxStmtsInsns)
		bpfgen.MaxStmtsInsns = 1
	}
	f := buildFixture(t, compiler, opt)
	o0 := opt == "-O0"
	p := f.plan(t, o0)

	// Started before the session: not a descendant of a
	// target, so never traced.
	outsider, release := startWaiting(t, f.exe, "loop")

	s, err := Start(context.Background(), p, Options{PIDs: []int{os.Getpid()}, SingleUprobes: single})
	if err != nil {
		t.Fatal(err)
	}
	if want := !single && features.HaveBPFLinkUprobeMulti() == nil; s.Multi() != want {
		t.Fatalf("uprobe_multi links %v with SingleUprobes %v, want %v", s.Multi(), single, want)
	}
	if len(s.Warnings()) != 0 {
		t.Errorf("warnings: %v", s.Warnings())
	}
	var ours []uint32
	for _, l := range append(s.tracker, s.links...) {
		info, err := l.Info()
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, uint32(info.ID))
	}
	// One probe per statement, but the statement at the
	// entry shares the entry probe; two more links follow forks.
	if want := len(p.Stmts) + 1; s.Probes() != want {
		t.Errorf("%d probes for %d statements, want %d", s.Probes(), len(p.Stmts), want)
	}
	wantLinks := 2 + s.Probes()
	if s.Multi() && mode != "split" {
		wantLinks = 2 + 3 // return, statements, entry
	}
	if len(ours) != wantLinks {
		t.Errorf("%d links, want %d", len(ours), wantLinks)
	}
	var traces []Trace
	done := make(chan struct{})
	go func() {
		for tr := range s.Traces() {
			traces = append(traces, tr)
		}
		close(done)
	}()
	pids := map[string]int{}
	for _, mode := range []string{"loop", "recurse", "threads"} {
		cmd := exec.Command(f.exe, mode)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", f.exe, mode, err, out)
		}
		pids[mode] = cmd.Process.Pid
	}
	release()
	if err := outsider.Wait(); err != nil {
		t.Fatalf("outsider: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	remaining := linkIDs(t)
	for _, id := range ours {
		if remaining[id] {
			t.Errorf("link %d still attached after Close", id)
		}
	}

	byPID := map[uint32][]Trace{}
	var bytes, records uint64
	l := bpfgen.Layout{Values: 5}
	if o0 {
		l.Values = 9
	}
	for _, tr := range traces {
		byPID[tr.PID] = append(byPID[tr.PID], tr)
		bytes += uint64(bpfgen.HeaderSize + len(tr.Records)*l.RecordSize())
		records += uint64(len(tr.Records))
		if tr.Return != -22 || tr.Comm != "whyfail" || tr.Truncated != 0 {
			t.Errorf("trace %v: want return -22, comm whyfail, nothing truncated", &tr)
		}
		if len(tr.Records) == 0 || f.stmts[tr.Records[0].StmtID-1].pc != f.low {
			t.Errorf("trace %v does not start at the entry statement", &tr)
		}
	}
	if n := len(byPID[uint32(outsider.Process.Pid)]); n != 0 {
		t.Errorf("%d traces from a process that is not a target", n)
	}

	// The five n == 13, depth 0 invocations took the same path.
	var paths [][]uint32
	loop := byPID[uint32(pids["loop"])]
	if len(loop) != 1 {
		t.Fatalf("loop: %d traces, want 1: %v", len(loop), loop)
	}
	checkN(t, f, loop[0], 13, 1, 0)
	paths = append(paths, stmtIDs(loop[0]))
	if o0 {
		checkO0(t, f, loop[0], []string{"init", "sq", "count", "rec", "test", "fail"}, 13, 0, 0)
	}
	// The global: before the add at the entry, after it at the end.
	c0, c1 := loop[0].Records[0].Values[vCounter], loop[0].Records[len(loop[0].Records)-1].Values[vCounter]
	if want := counterBefore(13); !sameValue(c0, Value{U64: uint64(want), OK: true}) || !sameValue(c1, Value{U64: uint64(want + 13), OK: true}) {
		t.Errorf("counter at entry %v and at the last statement %v, want %d and %d", c0, c1, want, want+13)
	}

	threads := byPID[uint32(pids["threads"])]
	tids := map[uint32]bool{}
	for _, tr := range threads {
		tids[tr.TID] = true
		checkN(t, f, tr, 13, 1, 0)
		paths = append(paths, stmtIDs(tr))
	}
	if len(threads) != 4 || len(tids) != 4 || tids[uint32(pids["threads"])] {
		t.Errorf("threads: %d traces from %d threads, want 4 from 4 non-main threads", len(threads), len(tids))
	}
	for _, p := range paths[1:] {
		if !slices.Equal(p, paths[0]) {
			t.Errorf("same path, different statements: %v and %v", p, paths[0])
		}
	}

	// Recursion check(11, 3): n = 13, 12, 11 fail in that
	// order (innermost returns first), n = 14 is discarded.
	rec := byPID[uint32(pids["recurse"])]
	if len(rec) != 3 {
		t.Fatalf("recurse: %d traces, want 3: %v", len(rec), rec)
	}
	for i, tr := range rec {
		n, depth := 13-i, 3-i
		checkN(t, f, tr, n, uint32(depth), 3-depth+1)
		if o0 {
			want := []string{"init", "sq", "count", "rec", "call", "test", "ok"}
			if n == 13 {
				want[len(want)-1] = "fail"
			}
			r := int32(-22)
			if n == 13 {
				r = 0 // check(14, 0) returned 0
			}
			checkO0(t, f, tr, want, n, 3-depth+1, r)
		}
	}

	want := Stats{Entries: 50 + 4 + 200, ExitHit: 8, ExitMiss: 246, Statements: st.Statements, RingBytes: bytes}
	if st != want {
		t.Errorf("stats\n%+v\nwant\n%+v", st, want)
	}
	if st.Statements < records {
		t.Errorf("%d statements recorded, fewer than the %d committed", st.Statements, records)
	}
}

func stmtIDs(tr Trace) []uint32 {
	var ids []uint32
	for _, r := range tr.Records {
		ids = append(ids, r.StmtID)
	}
	return ids
}

// checkN checks what every variant must agree on: the recursion level, n at entry at
// every statement, the argument registers at the entry statement, and the
// parameters n and depth (never assigned) wherever their location is known.
func checkN(t *testing.T, f *fixture, tr Trace, n int, depth uint32, depthParam int) {
	t.Helper()
	avail := 0
	for _, r := range tr.Records {
		if f.stmts[r.StmtID-1].pc == f.low && f.locals["n"] != nil {
			// -O0: the prologue has not stored the parameter into
			// its stack slot yet, so the slot holds a stale value.
			continue
		}
		if r.Values[vN].OK {
			avail++
			if !sameValue(r.Values[vN], Value{U64: uint64(n), OK: true}) {
				t.Errorf("statement at line %d: n = %v, want %d", f.line(r.StmtID), r.Values[vN], n)
			}
		}
		if r.Values[vDepth].OK && !sameValue(r.Values[vDepth], Value{U64: uint64(depthParam), OK: true}) {
			t.Errorf("statement at line %d: depth = %v, want %d", f.line(r.StmtID), r.Values[vDepth], depthParam)
		}
	}
	if avail == 0 {
		t.Errorf("trace %v: n never available", &tr)
	}
	if tr.Depth != depth || tr.Args[0] != uint64(n) {
		t.Errorf("trace %v: want depth %d and rdi %d at entry", &tr, depth, n)
	}
	for _, r := range tr.Records {
		if !sameValue(r.Values[vNull], Value{}) {
			t.Errorf("statement at line %d: a read of address 0 gave %v", f.line(r.StmtID), r.Values[vNull])
		}
		if got := r.Values[vNEntry]; !sameValue(got, Value{U64: uint64(n), OK: true}) {
			t.Errorf("statement at line %d: n@entry = %v, want %d", f.line(r.StmtID), got, n)
		}
		if f.stmts[r.StmtID-1].pc == f.low && len(r.Values) > vRDI {
			if !sameValue(r.Values[vRDI], Value{U64: uint64(n), OK: true}) {
				t.Errorf("rdi at entry = %v, want %d", r.Values[vRDI], n)
			}
		}
	}
}

// checkO0 checks, at -O0, the marked path and the locals after their
// assignment: n and depth from the prologue on, r from @sq, sq from @count.
func checkO0(t *testing.T, f *fixture, tr Trace, path []string, n, depth int, r int32) {
	t.Helper()
	if got := f.markerPath(tr); !reflect.DeepEqual(got, path) {
		t.Errorf("n=%d: path %v, want %v", n, got, path)
	}
	val := func(v int64) Value { return Value{U64: uint64(v), OK: true} }
	for _, rec := range tr.Records {
		m := f.lineMark[f.line(rec.StmtID)]
		if m == "" {
			continue
		}
		vs := rec.Values
		if !sameValue(vs[vN], val(int64(n))) || !sameValue(vs[vDepth], val(int64(depth))) {
			t.Errorf("n=%d @%s: n = %v, depth = %v, want %d, %d", n, m, vs[vN], vs[vDepth], n, depth)
		}
		afterInit := m != "init"
		if afterInit && !sameValue(vs[vR], val(0)) && m != "test" && m != "ok" && m != "fail" {
			t.Errorf("n=%d @%s: r = %v, want 0", n, m, vs[vR])
		}
		if (m == "test" || m == "ok" || m == "fail") && !sameValue(vs[vR], val(int64(r))) {
			t.Errorf("n=%d @%s: r = %v, want %d", n, m, vs[vR], r)
		}
		if m != "init" && m != "sq" && !sameValue(vs[vSq], val(int64(n*n))) {
			t.Errorf("n=%d @%s: sq = %v, want %d", n, m, vs[vSq], n*n)
		}
	}
}

// sameValue compares two values, strings included.
func sameValue(a, b Value) bool { return reflect.DeepEqual(a, b) }
