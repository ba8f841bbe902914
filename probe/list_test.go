package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// listSpecs returns the probe points listed for fixture b. Each is listed
// by its own stap run: stap lists symbol-table functions only once per
// module and run, so a comma-separated list does not give each point's rows.
// The line numbers of the N and N-M forms are fixed fractions of the
// source's length, so they land inside some function in every fixture.
func listSpecs(t *testing.T, b *fixture.Binary) []string {
	t.Helper()
	file := filepath.Base(b.Source)
	lines := countLines(t, b.Source)
	return []string{
		`function("*")`,
		`function("*").call`,
		`function("*").inline`,
		`function("*").return`,
		`statement("*@*` + file + `:*")`,
		fmt.Sprintf(`statement("*@*%s:%d")`, file, lines/2),
		fmt.Sprintf(`statement("*@*%s:%d-%d")`, file, lines/4, lines/4+5),
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	src := readFile(t, path)
	return strings.Count(src, "\n")
}

// openFixture opens b as whythefail -L does with --debug-dir b.DebugDir.
func openFixture(t *testing.T, b *fixture.Binary) *Resolver {
	t.Helper()
	opts := target.Options{}
	if b.DebugDir != "" {
		opts.DebugDirs = append([]string{b.DebugDir}, target.DefaultDebugDirs...)
	}
	f, err := target.Open(b.Path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if f.Debug == nil {
		t.Fatalf("%s: no debug info found", b.Path)
	}
	r, err := NewResolver(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// listRows lists text against r (List, as whythefail -L resolves) and
// returns the -L rows; no match is
// no rows (stap -L prints nothing then).
func listRows(t *testing.T, r *Resolver, text string) []string {
	t.Helper()
	s, err := spec.Parse(`process("` + r.Bin.Name() + `").` + text)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := r.List(s)
	if errors.Is(err, ErrNoMatch) {
		return nil
	}
	if err != nil {
		t.Fatalf("resolving %s: %v", text, err)
	}
	return List(pts, true)
}

// TestListFixtures lists every fixture in every variant, checks the rows
// against golden files and, where stap runs, against stap -L itself.
func TestListFixtures(t *testing.T) {
	stapErr := staporacle.Available()
	if stapErr != nil && fixture.InCI() {
		t.Fatalf("CI=true and %v", stapErr)
	}
	for _, name := range fixture.Names() {
		for _, v := range fixture.Variants() {
			t.Run(name+"/"+v.String(), func(t *testing.T) {
				t.Parallel()
				b := fixture.Build(t, name, v)
				r := openFixture(t, b)
				var golden strings.Builder
				for _, text := range listSpecs(t, b) {
					ours := listRows(t, r, text)
					fmt.Fprintf(&golden, "# %s\n", text)
					for _, row := range ours {
						golden.WriteString(row + "\n")
					}
					if stapErr != nil {
						continue
					}
					theirs, err := staporacle.ListWith(t, `process("`+r.Bin.Name()+`").`+text, staporacle.Options{DebugDirs: debugDirs(b)})
					if err != nil && !errors.Is(err, staporacle.ErrNoMatch) {
						t.Fatal(err)
					}
					if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
						if why, ok := knownDifferences[name+" "+v.String()+" "+text]; ok {
							t.Logf("known difference from stap (%s):\n%s", why, fixture.Diff(want, got))
							continue
						}
						t.Errorf("whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s",
							text, fixture.Diff(want, got))
					}
				}
				fixture.Golden(t, filepath.Join("testdata", "list", name+"-"+v.String()+".txt"),
					b.Redact([]byte(golden.String())))
			})
		}
	}
	if stapErr != nil {
		t.Logf("stap not compared: %v", stapErr)
	}
}

func debugDirs(b *fixture.Binary) []string {
	if b.DebugDir == "" {
		return nil
	}
	return []string{b.DebugDir}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// knownDifferences lists the listings where whythefail still differs from
// stap 4.8, keyed by "fixture variant spec", with the reason (see
// docs/stap-listing.md, "whythefail differences"). Any other difference
// fails the test; an entry that no longer differs is only logged.
var knownDifferences = map[string]string{}
