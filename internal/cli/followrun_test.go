package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// followRun runs a tracing command line (traceRun) that must exit 0:
// another status fails the test at once. The run's output is logged if
// the test fails, at its end. With libc set, the traced code is glibc's,
// and a failure that names debug info is a missing package (libc6-dbg)
// rather than a failure.
func followRun(t *testing.T, libc bool, args ...string) result {
	t.Helper()
	r := traceRun(t, args...)
	t.Cleanup(func() { dumpOnFailure(t, r) })
	if r.status != 0 {
		if libc && strings.Contains(r.stderr, "debug") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("exit status %d", r.status)
	}
	return r
}

// jsonTraces decodes --json output and returns its "trace" records, each
// unmarshalled into a T; records of other types are passed over.
func jsonTraces[T any](t *testing.T, out string) []T {
	t.Helper()
	var traces []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Type != "trace" {
			continue
		}
		var tr T
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatal(err)
		}
		traces = append(traces, tr)
	}
	return traces
}

// checkFopenStmts checks the origin's statements of glibc's
// _IO_new_file_fopen (fopenLines): every one in libio/fileops.c, one at
// the __set_errno (EINVAL) line einval, none at the line past the mode
// switch.
func checkFopenStmts(t *testing.T, stmts []stmtLine, einval, past int, out string) {
	t.Helper()
	var reached bool
	for _, s := range stmts {
		if s.file != "./libio/fileops.c" {
			t.Errorf("statement %q is not in libio/fileops.c", s.text)
		}
		if s.line == past {
			t.Errorf("statement %q: line %d is past the mode switch", s.text, past)
		}
		reached = reached || s.line == einval
	}
	if !reached {
		t.Errorf("the origin's statements do not reach line %d (__set_errno (EINVAL)):\n%s", einval, out)
	}
}
