package staporacle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

func TestListFunction(t *testing.T) {
	Require(t)
	fixture.RequireRoot(t) // the stand-in build tree lives in /lib/modules
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0"})
	rows, err := List(t, `process("`+b.Path+`").function("load_config")`)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`process("/fixture/build/demo").function("load_config@/fixture/src/demo.c:%d") $path:char const* $c:struct cfg* $buf:char[] $colon:char* $workers:int $verbose:_Bool`,
		fixture.Line(t, b.Source, "def"))
	if got := string(b.Redact([]byte(strings.Join(rows, "\n")))); got != want {
		t.Errorf("stap -L rows:\n%s\nwant:\n%s", got, want)
	}
	checkNoStub(t)
}

func TestListNoMatch(t *testing.T) {
	Require(t)
	fixture.RequireRoot(t)
	b := fixture.Build(t, "demo", fixture.Default)
	rows, err := List(t, `process("`+b.Path+`").function("no_such_function")`)
	if rows != nil || err == nil || !strings.HasSuffix(err.Error(), ": exit status 1: no probe point matches") || strings.Contains(err.Error(), "Tip:") {
		t.Errorf("List = %q, %v; want nil and a no-match error", rows, err)
	}
	checkNoStub(t)
}

// TestListStatementsGolden records what stap lists for every statement of
// load_config in each variant with inline debug info: the reference that our
// own listing imitates. Split-debug variants are left out because stap finds
// separate debug files only under /usr/lib/debug or through debuginfod.
func TestListStatementsGolden(t *testing.T) {
	Require(t)
	fixture.RequireRoot(t)
	for _, v := range fixture.Variants() {
		if v.SplitDebug {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			b := fixture.Build(t, "demo", v)
			rows, err := List(t, `process("`+b.Path+`").statement("load_config@*:*")`)
			if err != nil {
				t.Fatal(err)
			}
			out := b.Redact([]byte(strings.Join(rows, "\n") + "\n"))
			fixture.Golden(t, filepath.Join("testdata", "demo-load_config-"+v.String()+".stap"), out)
		})
	}
}

// checkNoStub checks that List removed the stand-in build tree it made,
// unless a real one (not ours) was there.
func checkNoStub(t *testing.T) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(modulesDir, "*", "build", stubMarker))
	// Parallel tests in this package hold the lock while the stub exists;
	// they are not parallel with this check, but other packages' may be.
	for _, m := range matches {
		if _, err := os.Stat(m); err == nil {
			t.Logf("stand-in tree %s exists (another test process may be running stap)", m)
		}
	}
}

func TestEnsureBuildTree(t *testing.T) {
	fixture.RequireRoot(t)
	old := modulesDir
	modulesDir = filepath.Join(t.TempDir(), "modules")
	defer func() { modulesDir = old }()

	remove, err := ensureBuildTree()
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	release := strings.TrimSpace(string(rel))
	uts, err := os.ReadFile(filepath.Join(modulesDir, release, "build", "include", "generated", "utsrelease.h"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `#define UTS_RELEASE "` + release + `"` + "\n"; string(uts) != want {
		t.Errorf("utsrelease.h = %q, want %q", uts, want)
	}
	remove()
	if _, err := os.Stat(modulesDir); !os.IsNotExist(err) {
		t.Errorf("after remove, %s: %v; want it gone", modulesDir, err)
	}

	// A real tree is left alone.
	real := filepath.Join(modulesDir, release, "build")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	remove, err = ensureBuildTree()
	if err != nil {
		t.Fatal(err)
	}
	remove()
	if entries, err := os.ReadDir(real); err != nil || len(entries) != 0 {
		t.Errorf("real tree touched: %v, %v", entries, err)
	}
}
