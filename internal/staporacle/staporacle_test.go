package staporacle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

func TestListFunction(t *testing.T) {
	Require(t)
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
}

func TestListNoMatch(t *testing.T) {
	Require(t)
	b := fixture.Build(t, "demo", fixture.Default)
	rows, err := List(t, `process("`+b.Path+`").function("no_such_function")`)
	if rows != nil || !errors.Is(err, ErrNoMatch) || !strings.HasSuffix(err.Error(), ": exit status 1: no probe point matches") || strings.Contains(err.Error(), "Tip:") {
		t.Errorf("List = %q, %v; want nil and a no-match error", rows, err)
	}
}

// TestListStatementsGolden records what stap lists for every statement of
// load_config in each variant with inline debug info: the reference that our
// own listing imitates. Split-debug variants are left out because stap finds
// separate debug files only under /usr/lib/debug or through debuginfod.
func TestListStatementsGolden(t *testing.T) {
	Require(t)
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

func TestWriteTree(t *testing.T) {
	dir := t.TempDir()
	if err := writeTree(dir, "6.1.0-test"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".config":                        stubConfig,
		"Module.symvers":                 "",
		"System.map":                     stubSystemMap,
		"include/config/kernel.release":  "6.1.0-test\n",
		"include/generated/utsrelease.h": "#define UTS_RELEASE \"6.1.0-test\"\n",
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != content {
			t.Errorf("%s = %q, %v; want %q", name, got, err, content)
		}
	}
}

// TestListReturn checks that the stand-in tree allows .return probes (stap
// refuses them silently without System.map).
func TestListReturn(t *testing.T) {
	Require(t)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0"})
	rows, err := List(t, `process("`+b.Path+`").function("load_config").return`)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`process("/fixture/build/demo").function("load_config@/fixture/src/demo.c:%d").return $return:int $path:char const* $c:struct cfg* $buf:char[] $colon:char* $workers:int $verbose:_Bool`,
		fixture.Line(t, b.Source, "def"))
	if got := string(b.Redact([]byte(strings.Join(rows, "\n")))); got != want {
		t.Errorf("stap -L rows:\n%s\nwant:\n%s", got, want)
	}
}

func TestDebuginfoPath(t *testing.T) {
	if got, want := debuginfoPath([]string{"/a", "/b"}), "+:.debug:/a:/b:/usr/lib/debug"; got != want {
		t.Errorf("debuginfoPath = %q, want %q", got, want)
	}
}
