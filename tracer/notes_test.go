package tracer

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/report"
)

// TestUnavailableNotes pins the three levels of notes about variables that
// print ?: one summary line, one line per variable, nothing.
func TestUnavailableNotes(t *testing.T) {
	stmts := map[uint32]report.Stmt{
		0: {File: "a.c", Line: 10}, 1: {File: "a.c", Line: 11}, 2: {File: "a.c", Line: 12},
		3: {File: "b.h", Line: 3}, 4: {File: "a.c", Line: 14}, 5: {File: "a.c", Line: 14},
	}
	const noLoc = "no location at this address"
	ws := []bpfgen.Warning{
		// Warnings arrive per statement; the notes regroup them, in the
		// order variables first print ?.
		{StmtID: 3, Var: "x", Reason: noLoc},
		{StmtID: 0, Var: "x", Reason: noLoc},
		{StmtID: 0, Var: "all", Reason: noLoc},
		{StmtID: 1, Var: "all", Reason: noLoc},
		{StmtID: 2, Var: "all", Reason: noLoc},
		{StmtID: 3, Var: "all", Reason: noLoc},
		{StmtID: 4, Var: "all", Reason: noLoc},
		{StmtID: 5, Var: "all", Reason: noLoc},
		{StmtID: 0, Var: "most", Reason: noLoc},
		{StmtID: 1, Var: "most", Reason: noLoc},
		{StmtID: 2, Var: "most", Reason: noLoc},
		{StmtID: 3, Var: "most", Reason: noLoc},
		// Line 14 has two statements; "most" prints ? at only one of
		// them, so "all but a.c:14" would be wrong.
		{StmtID: 4, Var: "shared", Reason: noLoc},
		{StmtID: 0, Var: "shared", Reason: noLoc},
		{StmtID: 1, Var: "shared", Reason: noLoc},
		{StmtID: 2, Var: "shared", Reason: noLoc},
		{StmtID: 1, Var: "two", Reason: "more than 32 variables at one statement"},
		{StmtID: 2, Var: "two", Reason: noLoc},
	}
	for _, c := range []struct {
		level Notes
		want  []string
	}{
		{NotesSummary, []string{"5 variables print as ? at all 6 statements; -v lists them"}},
		{NotesVerbose, []string{
			"x prints as ? at a.c:10 and b.h:3: " + noLoc,
			"all prints as ? at all 6 statements: " + noLoc,
			"most prints as ? at all 6 statements but a.c:14: " + noLoc,
			"shared prints as ? at a.c:10,11,12,14: " + noLoc,
			"two prints as ? at a.c:11: more than 32 variables at one statement; at a.c:12: " + noLoc,
		}},
		{NotesQuiet, nil},
	} {
		got := unavailableNotes(stmts, ws, c.level)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("level %d:\n%s\nwant:\n%s", c.level, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
	// One variable, one reason: the summary says which.
	got := unavailableNotes(stmts, ws[:2], NotesSummary)
	if want := "1 variable prints as ? at 2 of the 6 statements (" + noLoc + "); -v lists them"; len(got) != 1 || got[0] != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got := unavailableNotes(stmts, nil, NotesVerbose); got != nil {
		t.Errorf("notes without warnings: %q", got)
	}
}
