package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// cProgram is a small C program a test writes and compiles itself, for a
// case no fixture has.
type cProgram struct {
	Bin, Src string         // the output and its source
	Lines    map[string]int // the source's @name markers
}

// compileC writes code to dir/src and compiles it with gcc and flags into
// dir/out.
func compileC(t *testing.T, dir, src, out, code string, flags ...string) cProgram {
	t.Helper()
	fixture.NeedTool(t, "gcc")
	p := cProgram{Bin: filepath.Join(dir, out), Src: filepath.Join(dir, src)}
	if err := os.WriteFile(p.Src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-o", p.Bin, p.Src}, flags...)
	if msg, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, msg)
	}
	var err error
	if p.Lines, err = fixture.ParseMarkers([]byte(code)); err != nil {
		t.Fatal(err)
	}
	return p
}
