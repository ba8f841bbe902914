package session

import (
	"os"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
)

// TestOrderAtOneAddress traces check() of whyfail.c with two more probes
// at the address of one of its statements, planned after it as --follow
// plans its probes after the statements: a departure (as --follow's
// call-site probe) and an arrival (as a return probe), with uprobe_multi
// links and with single uprobes.
// Wherever the statement was recorded, the arrival comes just before it
// and the departure just after, whatever the plan's order and the
// kernel's order of the probes at one address (the reverse of their
// attachment).
func TestOrderAtOneAddress(t *testing.T) {
	requireBPF(t)
	f := buildFixture(t, "gcc", "-O2")
	base := f.plan(t, false)
	// A statement past the entry, recorded in every invocation: the
	// second statement's, as the second record of the loop's trace.
	var at bpfgen.Stmt
	for _, st := range base.Stmts {
		if st.FileOffset != base.EntryOffset {
			at = st
			break
		}
	}
	const dep, arr = 1000, 1001
	for _, single := range []bool{false, true} {
		p := base
		p.Stmts = nil
		for _, st := range base.Stmts {
			p.Stmts = append(p.Stmts, st)
			if st.ID == at.ID {
				d := st
				d.ID, d.Order = dep, bpfgen.OrderDeparture
				p.Stmts = append(p.Stmts, d)
			}
		}
		a := at
		a.ID, a.Order = arr, bpfgen.OrderArrival
		p.Stmts = append(p.Stmts, a)
		traces, _ := runLoop(t, f, p, Options{PIDs: []int{os.Getpid()}, SingleUprobes: single})
		seen := 0
		for _, tr := range traces {
			var ids []uint32
			for _, r := range tr.Records {
				ids = append(ids, r.StmtID)
			}
			for i, id := range ids {
				if id != at.ID {
					continue
				}
				seen++
				if i == 0 || i+1 == len(ids) || ids[i-1] != arr || ids[i+1] != dep {
					t.Errorf("single uprobes %v: records %v, want %d, %d, %d wherever %d is", single, ids, arr, at.ID, dep, at.ID)
				}
			}
		}
		if seen == 0 {
			t.Errorf("single uprobes %v: statement %d never recorded in %d traces", single, at.ID, len(traces))
		}
	}
}
