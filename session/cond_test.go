package session

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
)

// runLoop starts a session for p, runs the fixture's loop mode (check(n, 0)
// for n = 0..49, only n = 13 returns -22) and returns the traces and stats.
func runLoop(t *testing.T, f *fixture, p Plan, o Options) ([]Trace, Stats) {
	t.Helper()
	s, err := Start(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	var traces []Trace
	done := make(chan struct{})
	go func() {
		for tr := range s.Traces() {
			traces = append(traces, tr)
		}
		close(done)
	}()
	if out, err := exec.Command(f.exe, "loop").CombinedOutput(); err != nil {
		t.Fatalf("loop: %v\n%s", err, out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return traces, st
}

// loopReturns are check()'s return values in loop mode.
func loopReturns() []int64 {
	r := make([]int64, 50)
	r[13] = -22
	return r
}

func TestSessionConditions(t *testing.T) {
	requireBPF(t)
	f := buildFixture(t, "gcc", "-O0")
	me := Options{PIDs: []int{os.Getpid()}}
	n := ir.Param{Name: "n", Index: 0, Size: 4, Signed: true}
	for _, tc := range []struct {
		name    string
		cond    ir.Cond
		uns     bool
		opts    Options
		returns []int64 // of the committed traces, in order
		firstN  int     // n of the first committed trace
	}{
		{name: "always", cond: nil, opts: me, returns: loopReturns(), firstN: 0},
		{name: "param", cond: ir.BinOp{Op: ir.OpEq, L: n, R: ir.Const{V: 7}}, opts: me, returns: []int64{0}, firstN: 7},
		{name: "and", cond: ir.BinOp{Op: ir.OpLogAnd,
			L: ir.BinOp{Op: ir.OpGe, L: n, R: ir.Const{V: 12}},
			R: ir.BinOp{Op: ir.OpLt, L: ir.Return{}, R: ir.Const{V: 0}}}, opts: me, returns: []int64{-22}, firstN: 13},
		{name: "unsigned", cond: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: 0xffffffea}}, uns: true, opts: me, returns: []int64{0xffffffea}, firstN: 13},
		{name: "signed-no-match", cond: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: 0xffffffea}}, opts: me, returns: nil},
		{name: "trace-all", cond: ir.BinOp{Op: ir.OpNe, L: ir.Return{}, R: ir.Const{V: 0}}, opts: Options{TraceAll: true}, returns: []int64{-22}, firstN: 13},
		{name: "other-process", cond: nil, opts: Options{PIDs: []int{1}}, returns: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := f.plan(t, true)
			p.Cond, p.RetUnsigned = tc.cond, tc.uns
			traces, st := runLoop(t, f, p, tc.opts)
			var got []int64
			for _, tr := range traces {
				got = append(got, tr.Return)
			}
			if len(got) != len(tc.returns) {
				t.Fatalf("returns %v, want %v", got, tc.returns)
			}
			for i := range got {
				if got[i] != tc.returns[i] {
					t.Fatalf("returns %v, want %v", got, tc.returns)
				}
			}
			if len(traces) > 0 && traces[0].Args[0] != uint64(tc.firstN) {
				t.Errorf("first trace is for n = %d, want %d", traces[0].Args[0], tc.firstN)
			}
			entries := uint64(50)
			if tc.name == "other-process" {
				entries = 0
			}
			if st.Entries != entries || st.ExitHit != uint64(len(tc.returns)) || st.ExitMiss != entries-uint64(len(tc.returns)) ||
				st.MissingBuffer != 0 || st.EntryDrops != 0 || st.RingbufDrops != 0 {
				t.Errorf("stats %+v: want %d entries, %d hits", st, entries, len(tc.returns))
			}
		})
	}
}

// TestSessionTruncation keeps 5 records per invocation: the committed trace
// holds the first statement and the last four, and counts the ones dropped
// in between.
func TestSessionTruncation(t *testing.T) {
	requireBPF(t)
	f := buildFixture(t, "gcc", "-O0")
	p := f.plan(t, true)
	full, _ := runLoop(t, f, p, Options{PIDs: []int{os.Getpid()}})
	cut, st := runLoop(t, f, p, Options{PIDs: []int{os.Getpid()}, MaxRecords: 5})
	if len(full) != 1 || len(cut) != 1 {
		t.Fatalf("%d and %d traces, want 1 each", len(full), len(cut))
	}
	all := stmtIDs(full[0])
	if len(all) <= 5 {
		t.Fatalf("the failing call ran %d statements: too few to fill 5 records", len(all))
	}
	want := append(append([]uint32{}, all[:1]...), all[len(all)-4:]...)
	if got := stmtIDs(cut[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("statements kept %v, want %v (of %v)", got, want, all)
	}
	if int(cut[0].Truncated) != len(all)-5 || cut[0].TruncatedAt != 1 {
		t.Errorf("truncated %d after %d records, want %d after 1", cut[0].Truncated, cut[0].TruncatedAt, len(all)-5)
	}
	if st.Statements != 50*5 || st.Truncations == 0 {
		t.Errorf("stats %+v: want 250 statements and some truncations", st)
	}
}
